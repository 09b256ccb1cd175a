package namespace

import (
	"context"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"

	"github.com/skiffnet/skiff/control/controllers/ctrltest"
)

func TestNamespaceDeletionEmptiesNamespace(t *testing.T) {
	RecheckInterval = 50 * time.Millisecond
	now := metav1.Now()
	doomed := &corev1.Namespace{
		ObjectMeta: metav1.ObjectMeta{Name: "doomed"},
		Spec:       corev1.NamespaceSpec{Finalizers: []corev1.FinalizerName{corev1.FinalizerKubernetes}},
	}
	objs := []struct{ ns string }{{"doomed"}, {"keep"}}
	client := ctrltest.NewClient(doomed, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "keep"}})
	ctrltest.EmulateDeletion(client)
	ctx := context.Background()
	for _, o := range objs {
		if _, err := client.CoreV1().ConfigMaps(o.ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cm"}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := client.CoreV1().Secrets(o.ns).Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "s"}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := client.AppsV1().Deployments(o.ns).Create(ctx, &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "d"}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := client.CoreV1().ServiceAccounts(o.ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default"}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := client.CoreV1().Services(o.ns).Create(ctx, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "svc"}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	// A pod held by a finalizer (as a kubelet would while it stops containers).
	if _, err := client.CoreV1().Pods("doomed").Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Finalizers: []string{"example.com/hold"}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	f := informers.NewSharedInformerFactory(client, 0)
	c := New(client, f)
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	f.Start(cctx.Done())
	go c.Run(cctx, 1)

	// kubectl delete ns doomed: the server sets deletionTimestamp and Terminating.
	ns, _ := client.CoreV1().Namespaces().Get(ctx, "doomed", metav1.GetOptions{})
	ns.DeletionTimestamp = &now
	ns.Status.Phase = corev1.NamespaceTerminating
	if _, err := client.CoreV1().Namespaces().Update(ctx, ns, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	ctrltest.Eventually(t, 5*time.Second, func() bool {
		ns, err := client.CoreV1().Namespaces().Get(ctx, "doomed", metav1.GetOptions{})
		if err != nil {
			return false
		}
		for _, c := range ns.Status.Conditions {
			if c.Type == corev1.NamespaceFinalizersRemaining && c.Status == corev1.ConditionTrue {
				return true
			}
		}
		return false
	}, "NamespaceFinalizersRemaining while the pod lingers")
	empty := func(ns string) bool {
		cms, _ := client.CoreV1().ConfigMaps(ns).List(ctx, metav1.ListOptions{})
		ss, _ := client.CoreV1().Secrets(ns).List(ctx, metav1.ListOptions{})
		ds, _ := client.AppsV1().Deployments(ns).List(ctx, metav1.ListOptions{})
		sas, _ := client.CoreV1().ServiceAccounts(ns).List(ctx, metav1.ListOptions{})
		svcs, _ := client.CoreV1().Services(ns).List(ctx, metav1.ListOptions{})
		return len(cms.Items)+len(ss.Items)+len(ds.Items)+len(sas.Items)+len(svcs.Items) == 0
	}
	if !empty("doomed") {
		t.Fatal("content not deleted")
	}
	ns, err := client.CoreV1().Namespaces().Get(ctx, "doomed", metav1.GetOptions{})
	if err != nil || len(ns.Spec.Finalizers) != 1 {
		t.Fatalf("namespace finalized while a pod remains: %v %+v", err, ns)
	}
	p, _ := client.CoreV1().Pods("doomed").Get(ctx, "p", metav1.GetOptions{})
	p.Finalizers = nil
	if _, err := client.CoreV1().Pods("doomed").Update(ctx, p, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	ctrltest.Eventually(t, 5*time.Second, func() bool {
		ns, err := client.CoreV1().Namespaces().Get(ctx, "doomed", metav1.GetOptions{})
		return err != nil || len(ns.Spec.Finalizers) == 0
	}, "namespace finalized once empty")
	if empty("keep") {
		t.Fatal("another namespace's content was deleted")
	}
}
