package apiserver

import (
	"context"
	"log/slog"
	"net"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/skiffnet/skiff/control/storage"
)

// RepairReport says what RepairAllocations changed.
type RepairReport struct {
	Claimed   []string // allocations an object used without holding them
	Conflicts []string // values two objects use; the first holder keeps it
	Leaked    []string // allocations held for objects that no longer exist
}

// leakGrace is how long a leak candidate must stay unchanged before it is
// released: another server sharing etcd may be between claiming a value
// and storing the object that uses it.
var leakGrace = 30 * time.Second

// RepairAllocations makes the allocation keys under /registry/ranges/ agree
// with the stored Services and Nodes, as kube-apiserver's repair loops do on
// start: a ClusterIP, NodePort or PodCIDR in use without a key is claimed
// for its object (a value two objects use is reported, never handed out a
// third time), and a key whose owner no longer uses it is released once it
// has stayed that way for leakGrace. It blocks for the grace period.
func (s *Server) RepairAllocations(ctx context.Context) (RepairReport, error) {
	var rep RepairReport
	if s.Alloc == nil {
		return rep, nil
	}
	want, err := s.allocationsInUse(ctx)
	if err != nil {
		return rep, err
	}
	held, err := s.allocationKeys(ctx)
	if err != nil {
		return rep, err
	}
	for key, owner := range want {
		h, ok := held[key]
		switch {
		case !ok:
			got, err := s.Alloc.claim(ctx, key, owner)
			if err != nil {
				return rep, err
			}
			if got {
				rep.Claimed = append(rep.Claimed, key+" for "+owner)
			} else {
				rep.Conflicts = append(rep.Conflicts, key+" wanted by "+owner)
			}
		case h.owner != owner:
			rep.Conflicts = append(rep.Conflicts, key+" held by "+h.owner+", also used by "+owner)
		}
	}
	candidates := map[string]heldKey{}
	for key, h := range held {
		if _, used := want[key]; !used {
			candidates[key] = h
		}
	}
	if len(candidates) == 0 {
		return rep, nil
	}
	select {
	case <-ctx.Done():
		return rep, ctx.Err()
	case <-time.After(leakGrace):
	}
	if want, err = s.allocationsInUse(ctx); err != nil {
		return rep, err
	}
	for key, h := range candidates {
		if _, used := want[key]; used {
			continue
		}
		// Release only the very key version seen before the grace period.
		resp, err := s.Alloc.cli.Txn(ctx).If(clientv3.Compare(clientv3.ModRevision(key), "=", h.modRev)).
			Then(clientv3.OpDelete(key)).Commit()
		if err != nil {
			return rep, err
		}
		if resp.Succeeded {
			rep.Leaked = append(rep.Leaked, key+" of "+h.owner)
		}
	}
	return rep, nil
}

type heldKey struct {
	owner  string
	modRev int64
}

func (s *Server) allocationKeys(ctx context.Context) (map[string]heldKey, error) {
	resp, err := s.Alloc.cli.Get(ctx, "/registry/ranges/", clientv3.WithPrefix())
	if err != nil {
		return nil, err
	}
	out := map[string]heldKey{}
	for _, kv := range resp.Kvs {
		out[string(kv.Key)] = heldKey{owner: string(kv.Value), modRev: kv.ModRevision}
	}
	return out, nil
}

// allocationsInUse maps each allocation key the stored objects use to the
// owner that should hold it.
func (s *Server) allocationsInUse(ctx context.Context) (map[string]string, error) {
	want := map[string]string{}
	svcs, err := s.Store.List(ctx, storage.Prefix("services", ""), storage.ListOptions{}, func() runtime.Object { return &corev1.Service{} })
	if err != nil {
		return nil, err
	}
	for _, o := range svcs.Items {
		svc := o.(*corev1.Service)
		owner := svcOwner(svc)
		if ip := net.ParseIP(svc.Spec.ClusterIP); ip != nil && ip.To4() != nil && s.Alloc.serviceNet.Contains(ip) {
			want[ipKey(ip.To4().String())] = owner
		}
		for _, p := range svc.Spec.Ports {
			if p.NodePort != 0 {
				want[nodePortKey(int(p.NodePort))] = owner
			}
		}
	}
	nodes, err := s.Store.List(ctx, storage.Prefix("nodes", ""), storage.ListOptions{}, func() runtime.Object { return &corev1.Node{} })
	if err != nil {
		return nil, err
	}
	for _, o := range nodes.Items {
		n := o.(*corev1.Node)
		ip, cidr, err := net.ParseCIDR(n.Spec.PodCIDR)
		if err != nil || ip.To4() == nil || !s.Alloc.clusterNet.Contains(ip) {
			continue
		}
		if ones, _ := cidr.Mask.Size(); ones != 24 {
			continue
		}
		want[podCIDRKey(cidr.IP)] = nodeOwner(n.Name)
	}
	return want, nil
}

// repairInBackground runs RepairAllocations once and logs what it changed.
func (s *Server) repairInBackground(ctx context.Context) {
	go func() {
		rep, err := s.RepairAllocations(ctx)
		if err != nil {
			if ctx.Err() == nil {
				slog.Warn("allocation repair failed; it runs again on the next start", "err", err)
			}
			return
		}
		if len(rep.Claimed)+len(rep.Conflicts)+len(rep.Leaked) > 0 {
			slog.Info("allocations repaired", "claimed", strings.Join(rep.Claimed, "; "),
				"released", strings.Join(rep.Leaked, "; "), "conflicts", strings.Join(rep.Conflicts, "; "))
		}
	}()
}
