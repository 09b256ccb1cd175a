package scheduler

import "testing"

func TestScores(t *testing.T) {
	c := newCache()
	c.setNode(mkNode("empty", "4", "8Gi", 110))
	c.setNode(mkNode("busy", "4", "8Gi", 110))
	c.setNode(mkNode("cpuheavy", "4", "8Gi", 110))
	c.addPod("default/a", mkPod("a", "2", "4Gi"), "busy")
	c.addPod("default/b", mkPod("b", "3", "512Mi"), "cpuheavy")
	p := mkPod("p", "500m", "1Gi")
	cand := &candidate{pod: p, info: newPodInfo("default/p", p, "")}

	if e, b := leastAllocated(cand, c.nodes["empty"]), leastAllocated(cand, c.nodes["busy"]); e <= b {
		t.Fatalf("least allocated: empty=%d busy=%d, want empty higher", e, b)
	}
	if b, h := balanced(cand, c.nodes["busy"]), balanced(cand, c.nodes["cpuheavy"]); b <= h {
		t.Fatalf("balanced: busy(50%%/50%%)=%d cpuheavy(75%%/6%%)=%d, want busy higher", b, h)
	}
	if got := leastAllocated(cand, c.nodes["empty"]); got != (87+87)/2 {
		t.Fatalf("least allocated on empty node = %d, want 87", got)
	}
}

func TestSpreadScore(t *testing.T) {
	c := newCache()
	c.setNode(mkNode("a", "4", "8Gi", 110))
	c.setNode(mkNode("b", "4", "8Gi", 110))
	c.addPod("default/x1", mkPod("x1", "", "", ownedBy("rs1")), "a")
	c.addPod("default/x2", mkPod("x2", "", "", ownedBy("rs1")), "a")
	c.addPod("default/y", mkPod("y", "", "", ownedBy("rs2")), "b")
	p := mkPod("p", "", "", ownedBy("rs1"))
	cand := &candidate{pod: p, info: newPodInfo("default/p", p, "")}
	if got := spread(cand, c.nodes["a"], 2); got != 0 {
		t.Fatalf("spread on node with 2 siblings = %d, want 0", got)
	}
	if got := spread(cand, c.nodes["b"], 2); got != maxScore {
		t.Fatalf("spread on node without siblings = %d, want %d", got, maxScore)
	}
	orphan := mkPod("o", "", "")
	oc := &candidate{pod: orphan, info: newPodInfo("default/o", orphan, "")}
	if got := spread(oc, c.nodes["a"], 0); got != maxScore {
		t.Fatalf("spread without owner = %d", got)
	}
}

func TestSelectHostPrefersLeastLoaded(t *testing.T) {
	s := &Scheduler{cache: newCache()}
	s.cache.setNode(mkNode("small", "2", "4Gi", 110))
	s.cache.setNode(mkNode("big", "8", "16Gi", 110))
	p := mkPod("p", "1", "1Gi")
	got, _, _ := s.selectHost(&candidate{pod: p, info: newPodInfo("default/p", p, "")})
	if got != "big" {
		t.Fatalf("picked %q, want big", got)
	}
	if !s.cache.has("default/p") || s.cache.nodes["big"].requested.milliCPU != 1000 {
		t.Fatalf("pod not assumed on the chosen node")
	}
}
