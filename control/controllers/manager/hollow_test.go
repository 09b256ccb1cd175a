package manager

import (
	"context"
	"net/netip"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	k8stesting "k8s.io/client-go/testing"

	"github.com/skiffnet/skiff/control/controllers/ctrltest"
	"github.com/skiffnet/skiff/control/hollow"
)

// TestHollowNodesEndToEnd runs the manager and three hollow nodes on one
// fake clientset: a Deployment's pods are created (deployment and replicaset
// controllers), scheduled, reported Running by the hollow kubelets, spread
// over the nodes and published in the Service's EndpointSlice.
func TestHollowNodesEndToEnd(t *testing.T) {
	svc := &v1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web", UID: "uid-svc"},
		Spec: v1.ServiceSpec{Selector: map[string]string{"app": "web"},
			Ports: []v1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(8080), Protocol: v1.ProtocolTCP}}},
	}
	replicas := int32(6)
	deploy := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web"},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: v1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
				Spec: v1.PodSpec{SchedulerName: "default-scheduler", Containers: []v1.Container{{Name: "c", Image: "nginx",
					Ports: []v1.ContainerPort{{ContainerPort: 8080, Protocol: v1.ProtocolTCP}}}}},
			},
		},
	}
	cs := ctrltest.NewClient(svc, deploy)
	podsGVR := v1.SchemeGroupVersion.WithResource("pods")
	cs.PrependReactor("create", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if a.GetSubresource() != "binding" {
			return false, nil, nil
		}
		b := a.(k8stesting.CreateAction).GetObject().(*v1.Binding)
		obj, err := cs.Tracker().Get(podsGVR, b.Namespace, b.Name)
		if err != nil {
			return true, nil, err
		}
		p := obj.(*v1.Pod).DeepCopy()
		p.Spec.NodeName = b.Target.Name
		return true, b, cs.Tracker().Update(podsGVR, p, b.Namespace)
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	hc, err := hollow.New(cs, hollow.Options{Count: 3, HeartbeatInterval: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	hdone := make(chan error, 1)
	go func() { hdone <- hc.Run(ctx) }()
	mdone := make(chan error, 1)
	go func() {
		mdone <- Run(ctx, cs, Options{Identity: "test", LeaseDuration: 3 * time.Second, RenewDeadline: 2 * time.Second, RetryPeriod: 200 * time.Millisecond, Workers: 2})
	}()
	defer func() { cancel(); <-hdone; <-mdone }()

	eventually(t, "6 running pods, 2 per hollow node, IPs in the node ranges", func() bool {
		l, err := cs.CoreV1().Pods("default").List(ctx, metav1.ListOptions{})
		if err != nil {
			return false
		}
		per := map[string]int{}
		for _, p := range l.Items {
			if p.Status.Phase != v1.PodRunning || p.Status.PodIP == "" {
				return false
			}
			per[p.Spec.NodeName]++
		}
		return len(l.Items) == 6 && per["hollow-node-0"] == 2 && per["hollow-node-1"] == 2 && per["hollow-node-2"] == 2
	})
	eventually(t, "6 ready endpoints", func() bool {
		l, err := cs.DiscoveryV1().EndpointSlices("default").List(ctx, metav1.ListOptions{})
		if err != nil || len(l.Items) != 1 || len(l.Items[0].Endpoints) != 6 {
			return false
		}
		for _, ep := range l.Items[0].Endpoints {
			if ep.Conditions.Ready == nil || !*ep.Conditions.Ready {
				return false
			}
			if !netip.MustParsePrefix("100.64.0.0/10").Contains(netip.MustParseAddr(ep.Addresses[0])) {
				return false
			}
		}
		return true
	})
}
