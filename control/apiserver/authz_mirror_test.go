package apiserver

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestNodeMirrorPods checks the NodeRestriction rules for pods: a node
// creates only mirror pods bound to itself, and deletes only pods bound to
// itself.
func TestNodeMirrorPods(t *testing.T) {
	run := startTest(t)
	ctx := context.Background()
	admin := clients(t, run, false)
	n1 := clientFor(t, run, "system:node:n1", "system:nodes")
	node, err := n1.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n2"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	no := false
	mirror := func(name string, edit func(*corev1.Pod)) *corev1.Pod {
		p := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default",
				Annotations:     map[string]string{corev1.MirrorPodAnnotationKey: "h1", "kubernetes.io/config.hash": "h1", "kubernetes.io/config.source": "file"},
				OwnerReferences: []metav1.OwnerReference{{APIVersion: "v1", Kind: "Node", Name: "n1", UID: node.UID, Controller: &no}}},
			Spec: corev1.PodSpec{NodeName: "n1", Containers: []corev1.Container{{Name: "c", Image: "i"}}},
		}
		if edit != nil {
			edit(p)
		}
		return p
	}
	pods := n1.CoreV1().Pods("default")
	created, err := pods.Create(ctx, mirror("web-n1", nil), metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("node creates its own mirror pod: %v", err)
	}
	if created.Spec.NodeName != "n1" || created.Annotations[corev1.MirrorPodAnnotationKey] != "h1" {
		t.Fatalf("stored mirror pod: %+v", created.ObjectMeta)
	}
	refused := map[string]*corev1.Pod{
		"no mirror annotation":  mirror("plain-n1", func(p *corev1.Pod) { delete(p.Annotations, corev1.MirrorPodAnnotationKey) }),
		"bound to another node": mirror("other-n1", func(p *corev1.Pod) { p.Spec.NodeName = "n2" }),
		"not bound":             mirror("unbound-n1", func(p *corev1.Pod) { p.Spec.NodeName = "" }),
		"service account":       mirror("sa-n1", func(p *corev1.Pod) { p.Spec.ServiceAccountName = "default" }),
		"owned by another node": mirror("own-n1", func(p *corev1.Pod) { p.OwnerReferences[0].Name = "n2" }),
		"owner uid wrong":       mirror("uid-n1", func(p *corev1.Pod) { p.OwnerReferences[0].UID = "not-the-node" }),
		"secret volume": mirror("sec-n1", func(p *corev1.Pod) {
			p.Spec.Volumes = []corev1.Volume{{Name: "s", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "x"}}}}
		}),
		"configmap env": mirror("cm-n1", func(p *corev1.Pod) {
			p.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "E", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{
				LocalObjectReference: corev1.LocalObjectReference{Name: "x"}, Key: "k"}}}}
		}),
	}
	for what, p := range refused {
		if _, err := pods.Create(ctx, p, metav1.CreateOptions{}); !apierrors.IsForbidden(err) {
			t.Errorf("node creates a pod with %s: want Forbidden, got %v", what, err)
		}
		if _, err := admin.CoreV1().Pods("default").Get(ctx, p.Name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("refused pod %s was stored: %v", p.Name, err)
		}
	}
	// The admin is not limited: it creates an ordinary pod on n2 and on n1.
	for _, n := range []string{"n1", "n2"} {
		if _, err := admin.CoreV1().Pods("default").Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "user-" + n},
			Spec: corev1.PodSpec{NodeName: n, Containers: []corev1.Container{{Name: "c", Image: "i"}}}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if err := pods.Delete(ctx, "user-n2", metav1.DeleteOptions{}); !apierrors.IsForbidden(err) {
		t.Fatalf("node deletes another node's pod: want Forbidden, got %v", err)
	}
	if err := pods.Delete(ctx, "user-n1", metav1.DeleteOptions{}); err != nil {
		t.Fatalf("node deletes a pod bound to itself: %v", err)
	}
	if err := pods.Delete(ctx, "web-n1", metav1.DeleteOptions{}); err != nil {
		t.Fatalf("node deletes its mirror pod: %v", err)
	}
}
