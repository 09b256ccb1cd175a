package scheduler

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/record"
)

func mkNode(name, cpu, mem string, pods int64, mut ...func(*v1.Node)) *v1.Node {
	n := &v1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"kubernetes.io/hostname": name}},
		Status: v1.NodeStatus{
			Allocatable: v1.ResourceList{
				v1.ResourceCPU:    resource.MustParse(cpu),
				v1.ResourceMemory: resource.MustParse(mem),
				v1.ResourcePods:   *resource.NewQuantity(pods, resource.DecimalSI),
			},
			Conditions: []v1.NodeCondition{{Type: v1.NodeReady, Status: v1.ConditionTrue}},
		},
	}
	for _, m := range mut {
		m(n)
	}
	return n
}

var podSeq atomic.Int64

func mkPod(name, cpu, mem string, mut ...func(*v1.Pod)) *v1.Pod {
	req := v1.ResourceList{}
	if cpu != "" {
		req[v1.ResourceCPU] = resource.MustParse(cpu)
	}
	if mem != "" {
		req[v1.ResourceMemory] = resource.MustParse(mem)
	}
	p := &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name, UID: types.UID(fmt.Sprintf("uid-%s-%d", name, podSeq.Add(1)))},
		Spec: v1.PodSpec{
			SchedulerName: DefaultSchedulerName,
			Containers:    []v1.Container{{Name: "c", Image: "img", Resources: v1.ResourceRequirements{Requests: req}}},
		},
	}
	for _, m := range mut {
		m(p)
	}
	return p
}

func ownedBy(uid string) func(*v1.Pod) {
	return func(p *v1.Pod) {
		t := true
		p.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "rs", UID: types.UID(uid), Controller: &t}}
	}
}

var podsGVR = v1.SchemeGroupVersion.WithResource("pods")

// withBinding makes the fake clientset behave like an API server for
// pods/binding: it sets spec.nodeName on the stored pod. bound counts calls.
//
// When big is true, pod watches are served from a large buffered watcher fed
// by the binding reactor only (the tracker's own watchers hold 100 events and
// panic when a burst of bindings outruns the informer).
func withBinding(cs *fake.Clientset, bound *atomic.Int64, big bool) {
	var mu sync.Mutex
	var watchers []*watch.FakeWatcher
	if big {
		cs.PrependWatchReactor("pods", func(k8stesting.Action) (bool, watch.Interface, error) {
			w := watch.NewFakeWithChanSize(1<<16, false)
			mu.Lock()
			watchers = append(watchers, w)
			mu.Unlock()
			return true, w, nil
		})
	}
	cs.PrependReactor("create", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		ca, ok := a.(k8stesting.CreateAction)
		if !ok || a.GetSubresource() != "binding" {
			return false, nil, nil
		}
		b := ca.GetObject().(*v1.Binding)
		obj, err := cs.Tracker().Get(podsGVR, b.Namespace, b.Name)
		if err != nil {
			return true, nil, err
		}
		p := obj.(*v1.Pod).DeepCopy()
		if p.Spec.NodeName != "" {
			return true, nil, fmt.Errorf("pod %s is already assigned to node %q", b.Name, p.Spec.NodeName)
		}
		p.Spec.NodeName = b.Target.Name
		if err := cs.Tracker().Update(podsGVR, p, b.Namespace); err != nil {
			return true, nil, err
		}
		mu.Lock()
		for _, w := range watchers {
			w.Modify(p)
		}
		mu.Unlock()
		if bound != nil {
			bound.Add(1)
		}
		return true, b, nil
	})
}

type harness struct {
	cs       *fake.Clientset
	sched    *Scheduler
	recorder *record.FakeRecorder
	bound    atomic.Int64
	cancel   context.CancelFunc
	done     chan error
}

func startScheduler(t testing.TB, events int, objs ...runtime.Object) *harness {
	return startSchedulerWatch(t, events, false, objs...)
}

func startSchedulerWatch(t testing.TB, events int, bigWatch bool, objs ...runtime.Object) *harness {
	h := &harness{cs: fake.NewSimpleClientset(objs...), done: make(chan error, 1)}
	withBinding(h.cs, &h.bound, bigWatch)
	h.recorder = record.NewFakeRecorder(events)
	if events == 0 {
		h.recorder.Events = nil // drop events
	}
	factory := informers.NewSharedInformerFactory(h.cs, 0)
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	s, err := New(h.cs, factory, Options{Recorder: h.recorder, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	h.sched = s
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	factory.Start(ctx.Done())
	go func() { h.done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-h.done
		factory.Shutdown()
	})
	return h
}

// waitFor polls cond (fake informers deliver asynchronously).
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func getPod(t testing.TB, cs *fake.Clientset, name string) *v1.Pod {
	t.Helper()
	p, err := cs.CoreV1().Pods("default").Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return p
}
