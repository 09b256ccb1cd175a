package daemonset

import (
	"context"
	"sort"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/skiffnet/skiff/control/controllers/ctrltest"
)

const ns = "kube-system"

func node(name string, lbl map[string]string, taints ...corev1.Taint) *corev1.Node {
	return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: lbl}, Spec: corev1.NodeSpec{Taints: taints}}
}

func start(t *testing.T, objs ...*corev1.Node) *fake.Clientset {
	client := ctrltest.NewClient()
	// Without resourceVersions, a status write from a stale cache would
	// replace a newer spec in the fake clientset, which a real API server
	// refuses with 409.
	ctrltest.EmulateWrites(client)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	for _, n := range objs {
		if _, err := client.CoreV1().Nodes().Create(ctx, n, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	f := informers.NewSharedInformerFactory(client, 0)
	c := New(client, f, nil)
	f.Start(ctx.Done())
	f.WaitForCacheSync(ctx.Done())
	go c.Run(ctx, 2)
	// Fake kubelet: pods become Running and Ready.
	go func() {
		for ctx.Err() == nil {
			l, err := client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
			if err == nil {
				for _, p := range l.Items {
					if p.Status.Phase == "" {
						p.Status.Phase = corev1.PodRunning
						p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
						_, _ = client.CoreV1().Pods(ns).UpdateStatus(ctx, &p, metav1.UpdateOptions{})
					}
				}
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()
	return client
}

func podNodes(t *testing.T, c *fake.Clientset) []string {
	l, err := c.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, p := range l.Items {
		out = append(out, p.Spec.NodeName)
	}
	sort.Strings(out)
	return out
}

func eq(a []string, b ...string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestOnePodPerEligibleNode(t *testing.T) {
	web := map[string]string{"role": "web"}
	client := start(t,
		node("n1", web),
		node("n2", map[string]string{"role": "web"}, corev1.Taint{Key: "dedicated", Value: "x", Effect: corev1.TaintEffectNoSchedule}),
		node("n3", nil),
		node("n4", map[string]string{"role": "web"}, corev1.Taint{Key: corev1.TaintNodeUnreachable, Effect: corev1.TaintEffectNoExecute}),
	)
	ctx := context.Background()
	lbl := map[string]string{"app": "agent"}
	ds := &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "agent"},
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: lbl},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: lbl},
				Spec: corev1.PodSpec{NodeSelector: web, Containers: []corev1.Container{{Name: "c", Image: "agent:v1"}}}},
			UpdateStrategy: appsv1.DaemonSetUpdateStrategy{Type: appsv1.RollingUpdateDaemonSetStrategyType},
		},
	}
	if _, err := client.AppsV1().DaemonSets(ns).Create(ctx, ds, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// n2's taint is not tolerated, n3 lacks the label; n4's unreachable taint is tolerated by default.
	ctrltest.Eventually(t, 5*time.Second, func() bool { return eq(podNodes(t, client), "n1", "n4") }, "pods on n1 and n4, got %v", func() any { return podNodes(t, client) }())
	ctrltest.Eventually(t, 5*time.Second, func() bool {
		d, _ := client.AppsV1().DaemonSets(ns).Get(ctx, "agent", metav1.GetOptions{})
		s := d.Status
		return s.DesiredNumberScheduled == 2 && s.CurrentNumberScheduled == 2 && s.NumberReady == 2 &&
			s.NumberAvailable == 2 && s.UpdatedNumberScheduled == 2 && s.NumberMisscheduled == 0 && s.ObservedGeneration == d.Generation
	}, "status")

	// Tolerate n2's taint: a pod lands there.
	d, _ := client.AppsV1().DaemonSets(ns).Get(ctx, "agent", metav1.GetOptions{})
	d.Spec.Template.Spec.Tolerations = []corev1.Toleration{{Key: "dedicated", Operator: corev1.TolerationOpExists}}
	d.Spec.Template.Spec.Containers[0].Image = "agent:v2"
	d.Generation++
	if _, err := client.AppsV1().DaemonSets(ns).Update(ctx, d, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	ctrltest.Eventually(t, 5*time.Second, func() bool {
		l, _ := client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		for _, p := range l.Items {
			if p.Spec.Containers[0].Image != "agent:v2" {
				return false
			}
		}
		return eq(podNodes(t, client), "n1", "n2", "n4")
	}, "rolled to v2 on n1, n2, n4")

	// n1 loses its label: its pod goes.
	n1, _ := client.CoreV1().Nodes().Get(ctx, "n1", metav1.GetOptions{})
	n1.Labels = nil
	if _, err := client.CoreV1().Nodes().Update(ctx, n1, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	ctrltest.Eventually(t, 5*time.Second, func() bool { return eq(podNodes(t, client), "n2", "n4") }, "pod removed from n1")
	// A failed daemon pod is replaced.
	l, _ := client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	p := l.Items[0]
	p.Status.Phase = corev1.PodFailed
	if _, err := client.CoreV1().Pods(ns).UpdateStatus(ctx, &p, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	ctrltest.Eventually(t, 5*time.Second, func() bool {
		_, err := client.CoreV1().Pods(ns).Get(ctx, p.Name, metav1.GetOptions{})
		return err != nil && eq(podNodes(t, client), "n2", "n4")
	}, "failed pod replaced")
}

func TestShouldRunAffinity(t *testing.T) {
	n := node("big", map[string]string{"cpus": "16", "zone": "a"})
	spec := func(reqs ...corev1.NodeSelectorRequirement) *corev1.PodSpec {
		return &corev1.PodSpec{Affinity: &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{
			RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: reqs}}}}}}
	}
	cases := []struct {
		req  corev1.NodeSelectorRequirement
		want bool
	}{
		{corev1.NodeSelectorRequirement{Key: "zone", Operator: corev1.NodeSelectorOpIn, Values: []string{"a", "b"}}, true},
		{corev1.NodeSelectorRequirement{Key: "zone", Operator: corev1.NodeSelectorOpNotIn, Values: []string{"a"}}, false},
		{corev1.NodeSelectorRequirement{Key: "cpus", Operator: corev1.NodeSelectorOpGt, Values: []string{"8"}}, true},
		{corev1.NodeSelectorRequirement{Key: "cpus", Operator: corev1.NodeSelectorOpLt, Values: []string{"8"}}, false},
		{corev1.NodeSelectorRequirement{Key: "gpu", Operator: corev1.NodeSelectorOpDoesNotExist}, true},
		{corev1.NodeSelectorRequirement{Key: "gpu", Operator: corev1.NodeSelectorOpExists}, false},
	}
	for _, c := range cases {
		if got := ShouldRun(n, spec(c.req)); got != c.want {
			t.Errorf("%+v: got %v want %v", c.req, got, c.want)
		}
	}
}
