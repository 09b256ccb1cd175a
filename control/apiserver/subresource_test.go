package apiserver

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestApplySubresourceTyped(t *testing.T) {
	res := lookup("", "v1", "pods")
	cur := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Labels: map[string]string{"a": "1"}, ResourceVersion: "5"},
		Spec:   corev1.PodSpec{NodeName: "n1", Containers: []corev1.Container{{Name: "c", Image: "img:1"}}},
		Status: corev1.PodStatus{Phase: corev1.PodPending}}
	// A write of the object keeps the stored status.
	in := cur.DeepCopy()
	in.Spec.Containers[0].Image = "img:2"
	in.Status.Phase = corev1.PodRunning
	out, err := applySubresource(res, "", cur, in)
	if err != nil {
		t.Fatal(err)
	}
	if p := out.(*corev1.Pod); p.Status.Phase != corev1.PodPending || p.Spec.Containers[0].Image != "img:2" {
		t.Fatalf("object write: phase %s image %s; want Pending (stored) and img:2", p.Status.Phase, p.Spec.Containers[0].Image)
	}
	// A write of status keeps the stored spec but takes status, labels and
	// annotations.
	in = cur.DeepCopy()
	in.Spec.NodeName = "other"
	in.Status.Phase = corev1.PodRunning
	in.Labels = map[string]string{"b": "2"}
	out, err = applySubresource(res, "status", cur, in)
	if err != nil {
		t.Fatal(err)
	}
	p := out.(*corev1.Pod)
	if p.Spec.NodeName != "n1" || p.Status.Phase != corev1.PodRunning || p.Labels["b"] != "2" || p.Labels["a"] != "" {
		t.Fatalf("status write: node %s phase %s labels %v", p.Spec.NodeName, p.Status.Phase, p.Labels)
	}
	if cur.Status.Phase != corev1.PodPending {
		t.Fatal("status write changed the stored object in place")
	}
}

func TestSpecChangedTyped(t *testing.T) {
	a := &appsv1.Deployment{Spec: appsv1.DeploymentSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
		Containers: []corev1.Container{{Name: "c", Image: "img:1"}}}}}}
	b := a.DeepCopy()
	b.Spec.Template.Spec.Containers[0].Args = []string{} // nil and empty serialize alike
	b.Status.Replicas = 3
	b.Labels = map[string]string{"x": "y"}
	if specChanged(a, b) {
		t.Fatal("metadata, status or nil-vs-empty counted as a spec change")
	}
	b.Spec.Template.Spec.Containers[0].Image = "img:2"
	if !specChanged(a, b) {
		t.Fatal("an image change is a spec change")
	}
}
