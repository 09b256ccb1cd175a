package printers

import (
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// BenchmarkToTablePods1000 prints a 1000-pod list, the size of one
// `kubectl get pods` page (limit=500) twice over.
func BenchmarkToTablePods1000(b *testing.B) {
	list := &corev1.PodList{}
	for i := 0; i < 1000; i++ {
		p := podWith(func(p *corev1.Pod) {
			p.Status.Phase = corev1.PodRunning
			p.Status.ContainerStatuses = []corev1.ContainerStatus{running("a", 1, 0), running("b", 0, 0)}
		})
		p.Name = fmt.Sprintf("web-%d", i)
		list.Items = append(list.Items, *p)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ToTable(list, Options{IncludeObject: metav1.IncludeMetadata}); err != nil {
			b.Fatal(err)
		}
	}
}
