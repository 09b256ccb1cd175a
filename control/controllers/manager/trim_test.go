package manager

import (
	"testing"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestTrimPodKeepsWhatControllersRead(t *testing.T) {
	p := &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p", Labels: map[string]string{"app": "a"}, Annotations: map[string]string{"k": "v"}},
		Spec: v1.PodSpec{
			NodeName: "n", Volumes: []v1.Volume{{Name: "kube-api-access-x"}},
			Containers: []v1.Container{{Name: "c", Image: "img", Command: []string{"x"}, Env: []v1.EnvVar{{Name: "A"}},
				Ports:          []v1.ContainerPort{{Name: "http", ContainerPort: 80, HostPort: 8080}},
				Resources:      v1.ResourceRequirements{Requests: v1.ResourceList{v1.ResourceCPU: resource.MustParse("100m")}},
				VolumeMounts:   []v1.VolumeMount{{Name: "kube-api-access-x"}},
				ReadinessProbe: &v1.Probe{}}},
			Tolerations: []v1.Toleration{{Key: "t"}},
		},
		Status: v1.PodStatus{PodIP: "10.0.0.1", Phase: v1.PodRunning},
	}
	out, err := trimPod(p)
	if err != nil {
		t.Fatal(err)
	}
	q := out.(*v1.Pod)
	c := q.Spec.Containers[0]
	if q.Spec.Volumes != nil || c.VolumeMounts != nil || c.Env != nil || c.Command != nil || c.ReadinessProbe != nil {
		t.Fatalf("not trimmed: %+v", q.Spec)
	}
	if q.Labels["app"] != "a" || q.Annotations["k"] != "v" || q.Spec.NodeName != "n" || len(q.Spec.Tolerations) != 1 ||
		c.Ports[0].Name != "http" || c.Ports[0].HostPort != 8080 || c.Resources.Requests.Cpu().MilliValue() != 100 ||
		q.Status.PodIP != "10.0.0.1" || c.Image != "img" {
		t.Fatalf("trimmed too much: %+v", q)
	}
	if o, _ := trimPod(&v1.Node{}); o == nil {
		t.Fatal("other kinds must pass through")
	}
}
