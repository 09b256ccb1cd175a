package scheduler

import (
	"reflect"
	"testing"

	v1 "k8s.io/api/core/v1"
)

func affinity(reqs ...v1.NodeSelectorRequirement) func(*v1.Pod) {
	return func(p *v1.Pod) {
		p.Spec.Affinity = &v1.Affinity{NodeAffinity: &v1.NodeAffinity{
			RequiredDuringSchedulingIgnoredDuringExecution: &v1.NodeSelector{
				NodeSelectorTerms: []v1.NodeSelectorTerm{{MatchExpressions: reqs}},
			},
		}}
	}
}

func hostPortPod(port int32, ip string) func(*v1.Pod) {
	return func(p *v1.Pod) {
		p.Spec.Containers[0].Ports = []v1.ContainerPort{{ContainerPort: 80, HostPort: port, HostIP: ip}}
	}
}

func TestFilter(t *testing.T) {
	labelled := func(n *v1.Node) { n.Labels["disk"] = "ssd"; n.Labels["gen"] = "5" }
	tainted := func(n *v1.Node) {
		n.Spec.Taints = []v1.Taint{{Key: "dedicated", Value: "db", Effect: v1.TaintEffectNoSchedule}}
	}
	preferTaint := func(n *v1.Node) {
		n.Spec.Taints = []v1.Taint{{Key: "soft", Effect: v1.TaintEffectPreferNoSchedule}}
	}
	cordoned := func(n *v1.Node) { n.Spec.Unschedulable = true }
	notReady := func(n *v1.Node) { n.Status.Conditions[0].Status = v1.ConditionFalse }
	unknown := func(n *v1.Node) { n.Status.Conditions[0].Status = v1.ConditionUnknown }
	tolerateDB := func(p *v1.Pod) {
		p.Spec.Tolerations = []v1.Toleration{{Key: "dedicated", Operator: v1.TolerationOpEqual, Value: "db", Effect: v1.TaintEffectNoSchedule}}
	}
	tolerateAll := func(p *v1.Pod) { p.Spec.Tolerations = []v1.Toleration{{Operator: v1.TolerationOpExists}} }

	tests := []struct {
		name     string
		node     *v1.Node
		existing []*v1.Pod
		pod      *v1.Pod
		want     []string
	}{
		{"fits", mkNode("n", "2", "4Gi", 110), nil, mkPod("p", "1", "1Gi"), nil},
		{"insufficient cpu", mkNode("n", "1", "4Gi", 110), nil, mkPod("p", "1500m", "1Gi"), []string{"Insufficient cpu"}},
		{"insufficient cpu and memory", mkNode("n", "1", "1Gi", 110), nil, mkPod("p", "2", "2Gi"), []string{"Insufficient cpu", "Insufficient memory"}},
		{"bound pods count", mkNode("n", "2", "4Gi", 110), []*v1.Pod{mkPod("a", "1500m", "")}, mkPod("p", "1", ""), []string{"Insufficient cpu"}},
		{"too many pods", mkNode("n", "2", "4Gi", 1), []*v1.Pod{mkPod("a", "", "")}, mkPod("p", "", ""), []string{reasonTooManyPods}},
		{"zero requests fit a full node", mkNode("n", "1", "1Gi", 110), []*v1.Pod{mkPod("a", "1", "1Gi")}, mkPod("p", "", ""), nil},
		{"cordoned", mkNode("n", "2", "4Gi", 110, cordoned), nil, mkPod("p", "", ""), []string{reasonUnschedulable}},
		{"cordoned but tolerated", mkNode("n", "2", "4Gi", 110, cordoned), nil, mkPod("p", "", "", tolerateAll), nil},
		{"not ready", mkNode("n", "2", "4Gi", 110, notReady), nil, mkPod("p", "", ""), []string{"node(s) had untolerated taint {node.kubernetes.io/not-ready: }"}},
		{"unknown", mkNode("n", "2", "4Gi", 110, unknown), nil, mkPod("p", "", ""), []string{"node(s) had untolerated taint {node.kubernetes.io/unreachable: }"}},
		{"node selector match", mkNode("n", "2", "4Gi", 110, labelled), nil, mkPod("p", "", "", func(p *v1.Pod) { p.Spec.NodeSelector = map[string]string{"disk": "ssd"} }), nil},
		{"node selector mismatch", mkNode("n", "2", "4Gi", 110), nil, mkPod("p", "", "", func(p *v1.Pod) { p.Spec.NodeSelector = map[string]string{"disk": "ssd"} }), []string{reasonAffinity}},
		{"affinity In", mkNode("n", "2", "4Gi", 110, labelled), nil, mkPod("p", "", "", affinity(v1.NodeSelectorRequirement{Key: "disk", Operator: v1.NodeSelectorOpIn, Values: []string{"hdd", "ssd"}})), nil},
		{"affinity NotIn", mkNode("n", "2", "4Gi", 110, labelled), nil, mkPod("p", "", "", affinity(v1.NodeSelectorRequirement{Key: "disk", Operator: v1.NodeSelectorOpNotIn, Values: []string{"ssd"}})), []string{reasonAffinity}},
		{"affinity Exists+Gt", mkNode("n", "2", "4Gi", 110, labelled), nil, mkPod("p", "", "", affinity(
			v1.NodeSelectorRequirement{Key: "disk", Operator: v1.NodeSelectorOpExists},
			v1.NodeSelectorRequirement{Key: "gen", Operator: v1.NodeSelectorOpGt, Values: []string{"4"}})), nil},
		{"affinity Lt fails", mkNode("n", "2", "4Gi", 110, labelled), nil, mkPod("p", "", "", affinity(v1.NodeSelectorRequirement{Key: "gen", Operator: v1.NodeSelectorOpLt, Values: []string{"5"}})), []string{reasonAffinity}},
		{"affinity DoesNotExist", mkNode("n", "2", "4Gi", 110), nil, mkPod("p", "", "", affinity(v1.NodeSelectorRequirement{Key: "disk", Operator: v1.NodeSelectorOpDoesNotExist})), nil},
		{"taint untolerated", mkNode("n", "2", "4Gi", 110, tainted), nil, mkPod("p", "", ""), []string{"node(s) had untolerated taint {dedicated: db}"}},
		{"taint tolerated", mkNode("n", "2", "4Gi", 110, tainted), nil, mkPod("p", "", "", tolerateDB), nil},
		{"PreferNoSchedule does not filter", mkNode("n", "2", "4Gi", 110, preferTaint), nil, mkPod("p", "", ""), nil},
		{"host port conflict", mkNode("n", "2", "4Gi", 110), []*v1.Pod{mkPod("a", "", "", hostPortPod(8080, ""))}, mkPod("p", "", "", hostPortPod(8080, "10.0.0.1")), []string{reasonPorts}},
		{"host port different IPs", mkNode("n", "2", "4Gi", 110), []*v1.Pod{mkPod("a", "", "", hostPortPod(8080, "10.0.0.2"))}, mkPod("p", "", "", hostPortPod(8080, "10.0.0.1")), nil},
		{"host port free", mkNode("n", "2", "4Gi", 110), []*v1.Pod{mkPod("a", "", "", hostPortPod(8080, ""))}, mkPod("p", "", "", hostPortPod(8081, "")), nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := newCache()
			c.setNode(tc.node)
			for _, p := range tc.existing {
				c.addPod(podKey(p), p, tc.node.Name)
			}
			got := filter(&candidate{pod: tc.pod, info: newPodInfo(podKey(tc.pod), tc.pod, "")}, c.nodes[tc.node.Name])
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("filter = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestFailureMessage(t *testing.T) {
	got := failureMessage(3, map[string]int{"Insufficient cpu": 2, "node(s) had untolerated taint {node.kubernetes.io/unreachable: }": 1})
	want := "0/3 nodes are available: 1 node(s) had untolerated taint {node.kubernetes.io/unreachable: }, 2 Insufficient cpu."
	if got != want {
		t.Fatalf("got %q\nwant %q", got, want)
	}
}

func TestPodRequests(t *testing.T) {
	p := mkPod("p", "200m", "100Mi")
	p.Spec.Containers = append(p.Spec.Containers, v1.Container{Name: "d"}) // no requests
	p.Spec.InitContainers = []v1.Container{mkPod("x", "1", "").Spec.Containers[0]}
	req, cpu, mem := podRequests(p)
	if req.milliCPU != 1000 || req.memory != 100<<20 || req.pods != 1 {
		t.Fatalf("requests = %+v, want cpu 1000m (init max), memory 100Mi, 1 pod", req)
	}
	if cpu != 1000 || mem != 100<<20+defaultMemoryRequest {
		t.Fatalf("nonzero = %d/%d", cpu, mem)
	}
}
