package printers

import (
	"sort"
	"strings"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

const (
	roleLabelPrefix = "node-role.kubernetes.io/"
	legacyRoleLabel = "kubernetes.io/role"
)

func init() {
	register(corev1.Node{}, printer{
		columns: []metav1.TableColumnDefinition{
			nameColumn,
			col("Status", "string", "The status of the node: Ready, NotReady or Unknown, and SchedulingDisabled."),
			col("Roles", "string", "The roles of the node, from node-role.kubernetes.io/<role> labels."),
			ageColumn,
			col("Version", "string", "Kubelet version reported by the node."),
			wide("Internal-IP", "string", "The node's internal IP address."),
			wide("External-IP", "string", "The node's external IP address."),
			wide("OS-Image", "string", "OS image reported by the node."),
			wide("Kernel-Version", "string", "Kernel version reported by the node."),
			wide("Container-Runtime", "string", "Container runtime and version reported by the node."),
		},
		row: func(obj runtime.Object, now time.Time) ([]any, []metav1.TableRowCondition) {
			n := obj.(*corev1.Node)
			info := n.Status.NodeInfo
			return []any{n.Name, nodeStatus(n), nodeRoles(n.Labels), age(n.CreationTimestamp, now), info.KubeletVersion,
				nodeAddress(n, corev1.NodeInternalIP), nodeAddress(n, corev1.NodeExternalIP),
				orUnknown(info.OSImage), orUnknown(info.KernelVersion), orUnknown(info.ContainerRuntimeVersion)}, nil
		},
	})
	register(corev1.Namespace{}, printer{
		columns: []metav1.TableColumnDefinition{nameColumn,
			col("Status", "string", "The phase of the namespace: Active or Terminating."), ageColumn},
		row: func(obj runtime.Object, now time.Time) ([]any, []metav1.TableRowCondition) {
			ns := obj.(*corev1.Namespace)
			return []any{ns.Name, string(ns.Status.Phase), age(ns.CreationTimestamp, now)}, nil
		},
	})
	register(corev1.ConfigMap{}, printer{
		columns: []metav1.TableColumnDefinition{nameColumn,
			col("Data", "integer", "Number of entries in data and binaryData."), ageColumn},
		row: func(obj runtime.Object, now time.Time) ([]any, []metav1.TableRowCondition) {
			cm := obj.(*corev1.ConfigMap)
			return []any{cm.Name, int64(len(cm.Data) + len(cm.BinaryData)), age(cm.CreationTimestamp, now)}, nil
		},
	})
	register(corev1.Secret{}, printer{
		columns: []metav1.TableColumnDefinition{nameColumn,
			col("Type", "string", "The type of the secret."),
			col("Data", "integer", "Number of entries in data."), ageColumn},
		row: func(obj runtime.Object, now time.Time) ([]any, []metav1.TableRowCondition) {
			s := obj.(*corev1.Secret)
			n := len(s.Data)
			for k := range s.StringData {
				if _, dup := s.Data[k]; !dup {
					n++
				}
			}
			return []any{s.Name, string(s.Type), int64(n), age(s.CreationTimestamp, now)}, nil
		},
	})
	register(corev1.ServiceAccount{}, printer{
		columns: []metav1.TableColumnDefinition{nameColumn,
			col("Secrets", "integer", "Number of secrets listed by the service account."), ageColumn},
		row: func(obj runtime.Object, now time.Time) ([]any, []metav1.TableRowCondition) {
			sa := obj.(*corev1.ServiceAccount)
			return []any{sa.Name, int64(len(sa.Secrets)), age(sa.CreationTimestamp, now)}, nil
		},
	})
	register(coordinationv1.Lease{}, printer{
		columns: []metav1.TableColumnDefinition{nameColumn,
			col("Holder", "string", "The holder of the lease."), ageColumn},
		row: func(obj runtime.Object, now time.Time) ([]any, []metav1.TableRowCondition) {
			l := obj.(*coordinationv1.Lease)
			holder := ""
			if l.Spec.HolderIdentity != nil {
				holder = *l.Spec.HolderIdentity
			}
			return []any{l.Name, holder, age(l.CreationTimestamp, now)}, nil
		},
	})
	register(corev1.Event{}, printer{
		columns: []metav1.TableColumnDefinition{
			col("Last Seen", "string", "Time since the event was last seen."),
			col("Type", "string", "Type of the event: Normal or Warning."),
			col("Reason", "string", "Short, machine-readable reason for the event."),
			col("Object", "string", "The object the event is about."),
			col("Message", "string", "Human-readable description of the event."),
			wide("Subobject", "string", "The part of the object the event is about (fieldPath)."),
			wide("Source", "string", "The component and host that reported the event."),
			wide("First Seen", "string", "Time since the event was first seen."),
			wide("Count", "integer", "How many times the event happened."),
			{Name: "Name", Type: "string", Format: "name", Priority: 1, Description: nameColumn.Description},
		},
		row: eventRow,
	})
}

func orUnknown(s string) string {
	if s == "" {
		return "<unknown>"
	}
	return s
}

func nodeStatus(n *corev1.Node) string {
	status := "Unknown"
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			if c.Status == corev1.ConditionTrue {
				status = "Ready"
			} else {
				status = "NotReady"
			}
			break
		}
	}
	if n.Spec.Unschedulable {
		status += ",SchedulingDisabled"
	}
	return status
}

func nodeRoles(labels map[string]string) string {
	set := map[string]bool{}
	for k, v := range labels {
		switch {
		case strings.HasPrefix(k, roleLabelPrefix):
			if role := strings.TrimPrefix(k, roleLabelPrefix); role != "" {
				set[role] = true
			}
		case k == legacyRoleLabel && v != "":
			set[v] = true
		}
	}
	if len(set) == 0 {
		return none
	}
	roles := make([]string, 0, len(set))
	for r := range set {
		roles = append(roles, r)
	}
	sort.Strings(roles)
	return strings.Join(roles, ",")
}

func nodeAddress(n *corev1.Node, t corev1.NodeAddressType) string {
	for _, a := range n.Status.Addresses {
		if a.Type == t {
			return a.Address
		}
	}
	return none
}

func eventRow(obj runtime.Object, now time.Time) ([]any, []metav1.TableRowCondition) {
	e := obj.(*corev1.Event)
	first := age(e.FirstTimestamp, now)
	if e.FirstTimestamp.IsZero() {
		first = microAge(e.EventTime, now)
	}
	last := age(e.LastTimestamp, now)
	if e.LastTimestamp.IsZero() {
		last = first
	}
	count := e.Count
	if e.Series != nil {
		last = microAge(e.Series.LastObservedTime, now)
		count = e.Series.Count
	} else if count == 0 {
		count = 1
	}
	source := e.Source.Component
	if source == "" {
		source = e.ReportingController
	}
	host := e.Source.Host
	if host == "" {
		host = e.ReportingInstance
	}
	if host != "" {
		source += ", " + host
	}
	object := strings.ToLower(e.InvolvedObject.Kind) + "/" + e.InvolvedObject.Name
	return []any{last, e.Type, e.Reason, object, strings.TrimSpace(e.Message), e.InvolvedObject.FieldPath,
		source, first, int64(count), e.Name}, nil
}
