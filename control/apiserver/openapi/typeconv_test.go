package openapi

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/managedfields"
)

// TestSchemasBuildATypeConverter checks that the schemas are complete and
// consistent enough for server-side apply's type converter.
func TestSchemasBuildATypeConverter(t *testing.T) {
	schemas, err := Schemas(testKinds())
	if err != nil {
		t.Fatal(err)
	}
	tc, err := managedfields.NewTypeConverter(schemas, false)
	if err != nil {
		t.Fatalf("NewTypeConverter: %v", err)
	}
	d := &appsv1.Deployment{TypeMeta: metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: metav1.ObjectMeta{Name: "web", Labels: map[string]string{"app": "web"}},
		Spec: appsv1.DeploymentSpec{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "nginx",
				Ports: []corev1.ContainerPort{{ContainerPort: 80, Protocol: "TCP"}, {ContainerPort: 80, Protocol: "UDP"}}}}}}}}
	if _, err := tc.ObjectToTyped(d); err != nil {
		t.Fatalf("ObjectToTyped(Deployment): %v", err)
	}
	dup := d.DeepCopy()
	dup.Spec.Template.Spec.Containers = append(dup.Spec.Template.Spec.Containers, corev1.Container{Name: "c", Image: "x"})
	if _, err := tc.ObjectToTyped(dup); err == nil {
		t.Fatal("two containers named c passed: containers is not a list-map keyed by name")
	}
	node := &corev1.Node{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Node"}, ObjectMeta: metav1.ObjectMeta{Name: "n"},
		Status: corev1.NodeStatus{Addresses: []corev1.NodeAddress{{Type: "InternalIP", Address: "10.0.0.1"}, {Type: "InternalIP", Address: "fd00::1"}}}}
	if _, err := tc.ObjectToTyped(node); err != nil {
		t.Fatalf("dual-stack node addresses rejected: %v", err)
	}
	svc := &corev1.Service{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Service"}, ObjectMeta: metav1.ObjectMeta{Name: "s"},
		Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 80, Protocol: "TCP", TargetPort: intstr.FromString("http")}}}}
	if _, err := tc.ObjectToTyped(svc); err != nil {
		t.Fatalf("ObjectToTyped(Service): %v", err)
	}
}
