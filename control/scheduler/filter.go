package scheduler

import (
	"fmt"
	"k8s.io/klog/v2"
	"sort"
	"strconv"
	"strings"

	v1 "k8s.io/api/core/v1"
)

// Taints the scheduler implies for nodes whose Ready condition is not True,
// in case the node lifecycle controller has not tainted them yet.
const (
	taintNotReady      = "node.kubernetes.io/not-ready"
	taintUnreachable   = "node.kubernetes.io/unreachable"
	taintUnschedulable = "node.kubernetes.io/unschedulable"
)

// Reasons, as kubectl users know them from upstream Kubernetes.
const (
	reasonUnschedulable = "node(s) were unschedulable"
	reasonAffinity      = "node(s) didn't match Pod's node affinity/selector"
	reasonPorts         = "node(s) didn't have free ports for the requested pod ports"
	reasonTooManyPods   = "Too many pods"
)

// candidate is a pod being scheduled together with what the filters need.
type candidate struct {
	pod  *v1.Pod
	info *podInfo
}

// filter returns why node cannot run the pod, or nil when it can.
func filter(c *candidate, n *nodeInfo) []string {
	node := n.node
	pod := c.pod
	if node.Spec.Unschedulable && !tolerated(pod.Spec.Tolerations, &v1.Taint{Key: taintUnschedulable, Effect: v1.TaintEffectNoSchedule}) {
		return []string{reasonUnschedulable}
	}
	if t := readinessTaint(node); t != nil && !tolerated(pod.Spec.Tolerations, t) {
		return []string{untoleratedMessage(t)}
	}
	if !matchesNodeSelector(pod, node) {
		return []string{reasonAffinity}
	}
	for i := range node.Spec.Taints {
		t := &node.Spec.Taints[i]
		if t.Effect != v1.TaintEffectNoSchedule && t.Effect != v1.TaintEffectNoExecute {
			continue
		}
		if !tolerated(pod.Spec.Tolerations, t) {
			return []string{untoleratedMessage(t)}
		}
	}
	if len(c.info.ports) > 0 && n.portConflict(c.info.ports) {
		return []string{reasonPorts}
	}
	return insufficient(&c.info.req, n)
}

func untoleratedMessage(t *v1.Taint) string {
	return fmt.Sprintf("node(s) had untolerated taint {%s: %s}", t.Key, t.Value)
}

// readinessTaint is the NoSchedule taint a node's Ready condition implies,
// or nil when it is Ready.
func readinessTaint(node *v1.Node) *v1.Taint {
	status := v1.ConditionUnknown
	for _, c := range node.Status.Conditions {
		if c.Type == v1.NodeReady {
			status = c.Status
		}
	}
	switch status {
	case v1.ConditionTrue:
		return nil
	case v1.ConditionFalse:
		return &v1.Taint{Key: taintNotReady, Effect: v1.TaintEffectNoSchedule}
	default:
		return &v1.Taint{Key: taintUnreachable, Effect: v1.TaintEffectNoSchedule}
	}
}

// tolerated reports whether any toleration matches the taint.
func tolerated(tols []v1.Toleration, t *v1.Taint) bool {
	for i := range tols {
		if tols[i].ToleratesTaint(klog.Background(), t, false) {
			return true
		}
	}
	return false
}

// insufficient lists the resources the node lacks for req.
func insufficient(req *resources, n *nodeInfo) []string {
	var out []string
	alloc, used := &n.allocatable, &n.requested
	if used.pods+1 > alloc.pods {
		out = append(out, reasonTooManyPods)
	}
	if req.milliCPU > 0 && used.milliCPU+req.milliCPU > alloc.milliCPU {
		out = append(out, "Insufficient cpu")
	}
	if req.memory > 0 && used.memory+req.memory > alloc.memory {
		out = append(out, "Insufficient memory")
	}
	if req.ephemeral > 0 && used.ephemeral+req.ephemeral > alloc.ephemeral {
		out = append(out, "Insufficient ephemeral-storage")
	}
	for name, v := range req.scalar {
		if v > 0 && used.scalar[name]+v > alloc.scalar[name] {
			out = append(out, "Insufficient "+string(name))
		}
	}
	return out
}

// matchesNodeSelector checks spec.nodeSelector and the required part of
// spec.affinity.nodeAffinity (terms are ORed, expressions within one ANDed).
func matchesNodeSelector(pod *v1.Pod, node *v1.Node) bool {
	for k, v := range pod.Spec.NodeSelector {
		if got, ok := node.Labels[k]; !ok || got != v {
			return false
		}
	}
	a := pod.Spec.Affinity
	if a == nil || a.NodeAffinity == nil || a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution == nil {
		return true
	}
	terms := a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms
	for i := range terms {
		if termMatches(&terms[i], node) {
			return true
		}
	}
	return false
}

func termMatches(t *v1.NodeSelectorTerm, node *v1.Node) bool {
	if len(t.MatchExpressions) == 0 && len(t.MatchFields) == 0 {
		return false // an empty term matches nothing
	}
	for i := range t.MatchExpressions {
		if !requirementMatches(&t.MatchExpressions[i], node.Labels) {
			return false
		}
	}
	for i := range t.MatchFields {
		r := &t.MatchFields[i]
		if r.Key != "metadata.name" || !requirementMatches(r, map[string]string{"metadata.name": node.Name}) {
			return false
		}
	}
	return true
}

func requirementMatches(r *v1.NodeSelectorRequirement, lbls map[string]string) bool {
	val, has := lbls[r.Key]
	switch r.Operator {
	case v1.NodeSelectorOpIn:
		return has && contains(r.Values, val)
	case v1.NodeSelectorOpNotIn:
		return !has || !contains(r.Values, val)
	case v1.NodeSelectorOpExists:
		return has
	case v1.NodeSelectorOpDoesNotExist:
		return !has
	case v1.NodeSelectorOpGt, v1.NodeSelectorOpLt:
		if !has || len(r.Values) != 1 {
			return false
		}
		got, err1 := strconv.ParseInt(val, 10, 64)
		want, err2 := strconv.ParseInt(r.Values[0], 10, 64)
		if err1 != nil || err2 != nil {
			return false
		}
		if r.Operator == v1.NodeSelectorOpGt {
			return got > want
		}
		return got < want
	}
	return false
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// failureMessage summarises why no node fits, like
// "0/3 nodes are available: 1 node(s) had untolerated taint {k: }, 2 Insufficient cpu."
func failureMessage(total int, reasons map[string]int) string {
	if total == 0 {
		return "0/0 nodes are available: no nodes registered."
	}
	parts := make([]string, 0, len(reasons))
	for r, n := range reasons {
		parts = append(parts, fmt.Sprintf("%d %s", n, r))
	}
	sort.Strings(parts)
	return fmt.Sprintf("0/%d nodes are available: %s.", total, strings.Join(parts, ", "))
}
