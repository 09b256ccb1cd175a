package staticpods

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	ctrd "github.com/containerd/containerd"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	k8stesting "k8s.io/client-go/testing"

	"github.com/skiffnet/skiff/control/kubelet"
	"github.com/skiffnet/skiff/dataplane/podnet"
	"github.com/skiffnet/skiff/internal/agentclean"
	"github.com/skiffnet/skiff/internal/nstest"
	skctrd "github.com/skiffnet/skiff/node/containerd"
)

const privManifest = `apiVersion: v1
kind: Pod
metadata:
  name: web
spec:
  terminationGracePeriodSeconds: 3
  containers:
  - name: app
    image: skiff/testapp:v1
    imagePullPolicy: Never
    env: [{name: VERSION, value: "%s"}]
    ports: [{name: http, containerPort: 8080}]
    readinessProbe:
      httpGet: {path: /healthz, port: http}
      periodSeconds: 1
`

// TestPrivilegedStaticPodRuns runs a static pod through the real kubelet
// (containerd, pod network namespace) on a fake API that deletes pods
// gracefully like the API server: the kubelet stops a deleted pod and then
// removes it with grace 0.
func TestPrivilegedStaticPodRuns(t *testing.T) {
	nstest.RequirePrivileged(t)
	ctx := context.Background()
	client := newClient()
	client.PrependReactor("delete", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		da := a.(k8stesting.DeleteAction)
		if g := da.GetDeleteOptions().GracePeriodSeconds; g != nil && *g == 0 {
			return false, nil, nil // the kubelet's final delete
		}
		obj, err := client.Tracker().Get(podsGVR, da.GetNamespace(), da.GetName())
		if err != nil {
			return true, nil, err
		}
		p := obj.(*v1.Pod).DeepCopy()
		if p.DeletionTimestamp == nil {
			now := metav1.Now()
			grace := int64(30)
			if p.Spec.TerminationGracePeriodSeconds != nil {
				grace = *p.Spec.TerminationGracePeriodSeconds
			}
			p.DeletionTimestamp, p.DeletionGracePeriodSeconds = &now, &grace
			err = client.Tracker().Update(podsGVR, p, p.Namespace)
		}
		return true, nil, err
	})

	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	tar := filepath.Join(root, "test/images/out/testapp.tar")
	if _, err := os.Stat(tar); err != nil {
		cmd := exec.Command(filepath.Join(root, "test/images/build.sh"))
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("build test images: %v\n%s", err, out)
		}
	}
	tp := nstest.New(t)
	host, err := tp.NS("host")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := host.Run("ip", "addr", "add", "192.0.2.10/32", "dev", "lo"); err != nil {
		t.Fatal(err)
	}
	dataDir, err := os.MkdirTemp("", "sksp")
	if err != nil {
		t.Fatal(err)
	}
	d, err := skctrd.Start(ctx, skctrd.Options{DataDir: dataDir})
	if err != nil {
		os.RemoveAll(dataDir)
		t.Fatal(err)
	}
	var pn *podnet.Network
	t.Cleanup(func() {
		cctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if cs, err := d.Client().Containers(cctx); err == nil {
			for _, c := range cs {
				if task, err := c.Task(cctx, nil); err == nil {
					_, _ = task.Delete(cctx, ctrd.WithProcessKill)
				}
				_ = c.Delete(cctx, ctrd.WithSnapshotCleanup)
			}
		}
		_ = d.Stop(cctx)
		if nss, _ := podnet.ListNetNS(podnet.DefaultNetNSDir, tp.Prefix+"-pod-"); len(nss) > 0 {
			for _, p := range nss {
				_ = podnet.DeleteNetNS(p)
			}
		}
		if pn != nil {
			pn.Close()
		}
		agentclean.UnmountUnder(dataDir) // containerd's and the pods' (ns/ipc, ns/uts, shm)
		os.RemoveAll(dataDir)
	})
	f, err := os.Open(tar)
	if err != nil {
		t.Fatal(err)
	}
	_, err = skctrd.Import(ctx, d.Client(), "", f, "")
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	hostPath := filepath.Join(podnet.DefaultNetNSDir, host.Name)
	cidr := netip.MustParsePrefix(fmt.Sprintf("10.78.%d.0/24", time.Now().UnixNano()%200+10))
	pn, err = podnet.New(podnet.Config{DataDir: dataDir, PodCIDR: cidr, VethPrefix: tp.Prefix, HostNetNS: hostPath})
	if err != nil {
		t.Fatal(err)
	}
	k, err := kubelet.New(kubelet.Config{NodeName: "n1", NodeIP: "192.0.2.10", Client: client,
		Containerd: d.Client(), RuntimeOpts: d.RuntimeOpts(), Net: pn, DataDir: dataDir,
		NetNSPrefix: tp.Prefix + "-pod-", ClusterDNS: []string{"10.96.0.10"}, HostNetNS: hostPath})
	if err != nil {
		t.Fatal(err)
	}
	kctx, stopKubelet := context.WithCancel(ctx)
	kdone := make(chan error, 1)
	go func() { kdone <- k.Run(kctx) }()
	t.Cleanup(func() {
		stopKubelet()
		if err := <-kdone; err != nil {
			t.Errorf("kubelet: %v", err)
		}
	})
	r := start(t, client, t.TempDir())

	ready := func(what string, cond func(*v1.Pod) bool) *v1.Pod {
		t.Helper()
		var last *v1.Pod
		deadline := time.Now().Add(90 * time.Second)
		for {
			last = r.pod("default", "web-n1")
			if last != nil && last.DeletionTimestamp == nil && cond(last) && podReady(last) {
				return last
			}
			if time.Now().After(deadline) {
				if last != nil {
					t.Fatalf("%s: static pod not ready; status %+v", what, last.Status)
				}
				t.Fatalf("%s: no mirror pod", what)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	r.write("web.yaml", fmt.Sprintf(privManifest, "v1"))
	first := ready("first version", func(*v1.Pod) bool { return true })
	addr := net.JoinHostPort(first.Status.PodIP, "8080")
	if code, body, err := getFrom(host, addr, "/hostname"); err != nil || code != 200 || strings.TrimSpace(body) != "web-n1" {
		t.Fatalf("GET /hostname from the static pod: %d %q %v", code, body, err)
	}

	r.write("web.yaml", fmt.Sprintf(privManifest, "v2"))
	second := ready("changed file", func(p *v1.Pod) bool { return p.UID != first.UID })
	if second.Spec.Containers[0].Env[0].Value != "v2" {
		t.Fatalf("replacement env: %+v", second.Spec.Containers[0].Env)
	}
	eventually(t, "old pod's containers removed", func() bool { return len(containersOf(t, d.Client(), first.UID)) == 0 })

	if err := os.Remove(filepath.Join(r.dir, "web.yaml")); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for r.pod("default", "web-n1") != nil || len(containersOf(t, d.Client(), second.UID)) > 0 {
		if time.Now().After(deadline) {
			t.Fatal("static pod of a removed file still there")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func podReady(p *v1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == v1.PodReady {
			return c.Status == v1.ConditionTrue
		}
	}
	return false
}

// containersOf lists the containerd containers of pod uid.
func containersOf(t *testing.T, c *ctrd.Client, uid types.UID) []string {
	t.Helper()
	cs, err := c.Containers(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, ctr := range cs {
		labels, err := ctr.Labels(context.Background())
		if err == nil && labels["io.skiff.pod.uid"] == string(uid) {
			ids = append(ids, ctr.ID())
		}
	}
	return ids
}

// getFrom sends GET path to addr from inside namespace ns.
func getFrom(ns *nstest.NS, addr, path string) (int, string, error) {
	var conn net.Conn
	if err := ns.Do(func() error {
		c, err := net.DialTimeout("tcp", addr, 2*time.Second)
		conn = c
		return err
	}); err != nil {
		return 0, "", err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(3 * time.Second))
	req, err := http.NewRequest(http.MethodGet, "http://"+addr+path, nil)
	if err != nil {
		return 0, "", err
	}
	req.Close = true
	if err := req.Write(conn); err != nil {
		return 0, "", err
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), err
}
