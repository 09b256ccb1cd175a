package garbagecollector

import (
	"context"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/skiffnet/skiff/control/controllers/ctrltest"
	"github.com/skiffnet/skiff/control/controllers/ctrlutil"
)

const ns = "gc"

func start(t *testing.T) *fake.Clientset {
	client := ctrltest.NewClient()
	ctrltest.EmulateDeletion(client)
	f := informers.NewSharedInformerFactory(client, 0)
	c := New(client, f)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	f.Start(ctx.Done())
	f.WaitForCacheSync(ctx.Done())
	go c.Run(ctx, 2)
	return client
}

// tree creates deployment -> replicaset -> two pods, plus a configmap the
// replicaset owns without blockOwnerDeletion.
func tree(t *testing.T, c *fake.Clientset) (*appsv1.Deployment, *appsv1.ReplicaSet) {
	ctx := context.Background()
	d, err := c.AppsV1().Deployments(ns).Create(ctx, &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "d"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rs, err := c.AppsV1().ReplicaSets(ns).Create(ctx, &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: "d-abc",
		OwnerReferences: []metav1.OwnerReference{*ctrlutil.NewControllerRef(d, appsv1.SchemeGroupVersion.WithKind("Deployment"))}}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ref := *ctrlutil.NewControllerRef(rs, appsv1.SchemeGroupVersion.WithKind("ReplicaSet"))
	for _, n := range []string{"p1", "p2"} {
		if _, err := c.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: n,
			OwnerReferences: []metav1.OwnerReference{ref}}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	loose := ref
	loose.Controller, loose.BlockOwnerDeletion = nil, nil
	if _, err := c.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cm",
		OwnerReferences: []metav1.OwnerReference{loose}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond) // let the informers see the tree
	return d, rs
}

func exists(t *testing.T, c *fake.Clientset, res, name string) bool {
	gvr := map[string]schema.GroupVersionResource{
		"deployments": appsv1.SchemeGroupVersion.WithResource("deployments"),
		"replicasets": appsv1.SchemeGroupVersion.WithResource("replicasets"),
		"pods":        corev1.SchemeGroupVersion.WithResource("pods"),
		"configmaps":  corev1.SchemeGroupVersion.WithResource("configmaps"),
	}[res]
	_, err := c.Tracker().Get(gvr, ns, name)
	if err != nil && !apierrors.IsNotFound(err) {
		t.Fatal(err)
	}
	return err == nil
}

func TestBackground(t *testing.T) {
	c := start(t)
	tree(t, c)
	bg := metav1.DeletePropagationBackground
	if err := c.AppsV1().Deployments(ns).Delete(context.Background(), "d", metav1.DeleteOptions{PropagationPolicy: &bg}); err != nil {
		t.Fatal(err)
	}
	ctrltest.Eventually(t, 5*time.Second, func() bool {
		return !exists(t, c, "replicasets", "d-abc") && !exists(t, c, "pods", "p1") && !exists(t, c, "pods", "p2") && !exists(t, c, "configmaps", "cm")
	}, "whole tree collected")
}

func TestForeground(t *testing.T) {
	c := start(t)
	tree(t, c)
	ctx := context.Background()
	fg := metav1.DeletePropagationForeground
	if err := c.AppsV1().Deployments(ns).Delete(ctx, "d", metav1.DeleteOptions{PropagationPolicy: &fg}); err != nil {
		t.Fatal(err)
	}
	// The deployment stays (finalizer) until its blocking dependents are gone.
	d, err := c.AppsV1().Deployments(ns).Get(ctx, "d", metav1.GetOptions{})
	if err != nil || d.DeletionTimestamp == nil {
		t.Fatalf("deployment should be pending foreground deletion: %v %+v", err, d)
	}
	ctrltest.Eventually(t, 5*time.Second, func() bool {
		return !exists(t, c, "deployments", "d") && !exists(t, c, "replicasets", "d-abc") &&
			!exists(t, c, "pods", "p1") && !exists(t, c, "pods", "p2")
	}, "owner removed after dependents")
	ctrltest.Eventually(t, 5*time.Second, func() bool { return !exists(t, c, "configmaps", "cm") }, "non-blocking dependent collected too")
}

func TestForegroundWaitsForBlockingDependent(t *testing.T) {
	c := start(t)
	_, rs := tree(t, c)
	ctx := context.Background()
	// p1 carries its own finalizer, so it lingers in deletion.
	p1, _ := c.CoreV1().Pods(ns).Get(ctx, "p1", metav1.GetOptions{})
	p1.Finalizers = []string{"example.com/hold"}
	if _, err := c.CoreV1().Pods(ns).Update(ctx, p1, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	fg := metav1.DeletePropagationForeground
	if err := c.AppsV1().ReplicaSets(ns).Delete(ctx, rs.Name, metav1.DeleteOptions{PropagationPolicy: &fg}); err != nil {
		t.Fatal(err)
	}
	ctrltest.Eventually(t, 5*time.Second, func() bool {
		p, err := c.CoreV1().Pods(ns).Get(ctx, "p1", metav1.GetOptions{})
		return err == nil && p.DeletionTimestamp != nil && !exists(t, c, "pods", "p2")
	}, "dependents being deleted")
	time.Sleep(100 * time.Millisecond)
	if !exists(t, c, "replicasets", rs.Name) {
		t.Fatal("owner finalized while a blocking dependent still exists")
	}
	p1, _ = c.CoreV1().Pods(ns).Get(ctx, "p1", metav1.GetOptions{})
	p1.Finalizers = nil
	if _, err := c.CoreV1().Pods(ns).Update(ctx, p1, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	ctrltest.Eventually(t, 5*time.Second, func() bool { return !exists(t, c, "replicasets", rs.Name) }, "owner finalized")
	if !exists(t, c, "deployments", "d") {
		t.Fatal("the RS's own owner must survive")
	}
}

func TestOrphan(t *testing.T) {
	c := start(t)
	_, rs := tree(t, c)
	ctx := context.Background()
	or := metav1.DeletePropagationOrphan
	if err := c.AppsV1().ReplicaSets(ns).Delete(ctx, rs.Name, metav1.DeleteOptions{PropagationPolicy: &or}); err != nil {
		t.Fatal(err)
	}
	ctrltest.Eventually(t, 5*time.Second, func() bool { return !exists(t, c, "replicasets", rs.Name) }, "owner finalized")
	time.Sleep(100 * time.Millisecond)
	for _, n := range []string{"p1", "p2"} {
		p, err := c.CoreV1().Pods(ns).Get(ctx, n, metav1.GetOptions{})
		if err != nil {
			t.Fatalf("orphaned pod %s was deleted: %v", n, err)
		}
		if len(p.OwnerReferences) != 0 {
			t.Fatalf("pod %s still has ownerReferences %+v", n, p.OwnerReferences)
		}
	}
	if !exists(t, c, "configmaps", "cm") {
		t.Fatal("orphaned configmap deleted")
	}
}

func TestDanglingRefRemovedWhenAnotherOwnerLives(t *testing.T) {
	c := start(t)
	ctx := context.Background()
	live, _ := c.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "live"}}, metav1.CreateOptions{})
	refs := []metav1.OwnerReference{
		{APIVersion: "v1", Kind: "ConfigMap", Name: "live", UID: live.UID},
		{APIVersion: "v1", Kind: "ConfigMap", Name: "gone", UID: "no-such-uid"},
		{APIVersion: "example.com/v1", Kind: "Widget", Name: "w", UID: "unknown-kind"},
	}
	if _, err := c.CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "s", OwnerReferences: refs}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	ctrltest.Eventually(t, 5*time.Second, func() bool {
		s, err := c.CoreV1().Secrets(ns).Get(ctx, "s", metav1.GetOptions{})
		return err == nil && len(s.OwnerReferences) == 2 && s.OwnerReferences[0].UID == live.UID
	}, "dangling reference dropped, object kept")
	// An object whose only owner is of a kind the collector cannot check stays.
	if _, err := c.CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "s2", OwnerReferences: refs[2:]}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(150 * time.Millisecond)
	if _, err := c.CoreV1().Secrets(ns).Get(ctx, "s2", metav1.GetOptions{}); err != nil {
		t.Fatalf("object owned by an unknown kind was collected: %v", err)
	}
}
