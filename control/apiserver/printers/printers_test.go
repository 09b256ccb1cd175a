package printers

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
)

var now = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

func ago(d time.Duration) metav1.Time { return metav1.NewTime(now.Add(-d)) }

func om(name string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: name, Namespace: "ns1", CreationTimestamp: ago(5 * time.Minute),
		Labels: map[string]string{"app": name}, ResourceVersion: "42"}
}

func ptr[T any](v T) *T { return &v }

// oneRow prints obj and returns the cells keyed by column name, checking the
// header shape on the way.
func oneRow(t *testing.T, obj runtime.Object) map[string]any {
	t.Helper()
	tbl, err := ToTable(obj, Options{Now: now})
	if err != nil {
		t.Fatalf("ToTable(%T): %v", obj, err)
	}
	if tbl.Kind != "Table" || tbl.APIVersion != "meta.k8s.io/v1" {
		t.Fatalf("table type meta = %v", tbl.TypeMeta)
	}
	if len(tbl.Rows) != 1 {
		t.Fatalf("%d rows, want 1", len(tbl.Rows))
	}
	if len(tbl.Rows[0].Cells) != len(tbl.ColumnDefinitions) {
		t.Fatalf("%d cells for %d columns", len(tbl.Rows[0].Cells), len(tbl.ColumnDefinitions))
	}
	out := map[string]any{}
	for i, c := range tbl.ColumnDefinitions {
		out[c.Name] = tbl.Rows[0].Cells[i]
	}
	return out
}

func columns(t *testing.T, obj runtime.Object) (normal, wideCols []string) {
	t.Helper()
	tbl, err := ToTable(obj, Options{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range tbl.ColumnDefinitions {
		if c.Priority == 0 {
			normal = append(normal, c.Name)
		} else {
			wideCols = append(wideCols, c.Name)
		}
	}
	return
}

func expect(t *testing.T, got map[string]any, want map[string]any) {
	t.Helper()
	for k, v := range want {
		if !reflect.DeepEqual(got[k], v) {
			t.Errorf("column %q = %#v, want %#v", k, got[k], v)
		}
	}
}

func TestColumnsMatchKubectl(t *testing.T) {
	cases := []struct {
		obj          runtime.Object
		normal, wide string
	}{
		{&corev1.Pod{ObjectMeta: om("p")}, "Name Ready Status Restarts Age", "IP Node Nominated Node Readiness Gates"},
		{&appsv1.Deployment{ObjectMeta: om("d")}, "Name Ready Up-to-date Available Age", "Containers Images Selector"},
		{&appsv1.ReplicaSet{ObjectMeta: om("r")}, "Name Desired Current Ready Age", "Containers Images Selector"},
		{&appsv1.DaemonSet{ObjectMeta: om("ds")}, "Name Desired Current Ready Up-to-date Available Node Selector Age", "Containers Images Selector"},
		{&batchv1.Job{ObjectMeta: om("j")}, "Name Status Completions Duration Age", "Containers Images Selector"},
		{&corev1.Service{ObjectMeta: om("s")}, "Name Type Cluster-IP External-IP Port(s) Age", "Selector"},
		{&corev1.Endpoints{ObjectMeta: om("e")}, "Name Endpoints Age", ""},
		{&discoveryv1.EndpointSlice{ObjectMeta: om("es")}, "Name AddressType Ports Endpoints Age", ""},
		{&corev1.Node{ObjectMeta: om("n")}, "Name Status Roles Age Version", "Internal-IP External-IP OS-Image Kernel-Version Container-Runtime"},
		{&corev1.Namespace{ObjectMeta: om("ns")}, "Name Status Age", ""},
		{&corev1.ConfigMap{ObjectMeta: om("cm")}, "Name Data Age", ""},
		{&corev1.Secret{ObjectMeta: om("sec")}, "Name Type Data Age", ""},
		{&corev1.ServiceAccount{ObjectMeta: om("sa")}, "Name Secrets Age", ""},
		{&corev1.Event{ObjectMeta: om("ev")}, "Last Seen Type Reason Object Message", "Subobject Source First Seen Count Name"},
		{&coordinationv1.Lease{ObjectMeta: om("l")}, "Name Holder Age", ""},
		{&rbacv1.Role{ObjectMeta: om("role")}, "Name Age", ""},
	}
	for _, c := range cases {
		n, w := columns(t, c.obj)
		if strings.Join(n, " ") != c.normal || strings.Join(w, " ") != c.wide {
			t.Errorf("%T columns = %q / wide %q, want %q / %q", c.obj, n, w, c.normal, c.wide)
		}
	}
}

func TestNameColumnFormat(t *testing.T) {
	tbl, err := ToTable(&corev1.Pod{ObjectMeta: om("p")}, Options{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	if c := tbl.ColumnDefinitions[0]; c.Name != "Name" || c.Format != "name" || c.Type != "string" {
		t.Fatalf("name column = %+v", c)
	}
}

func running(name string, restarts int32, lastExit time.Duration) corev1.ContainerStatus {
	st := corev1.ContainerStatus{Name: name, Ready: true, RestartCount: restarts,
		State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: ago(time.Minute)}}}
	if lastExit > 0 {
		st.LastTerminationState.Terminated = &corev1.ContainerStateTerminated{ExitCode: 1, FinishedAt: ago(lastExit)}
	}
	return st
}

func podWith(mut func(p *corev1.Pod)) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: om("web"), Spec: corev1.PodSpec{
		Containers: []corev1.Container{{Name: "a", Image: "nginx"}, {Name: "b", Image: "busybox"}}}}
	mut(p)
	return p
}

func TestPodStatus(t *testing.T) {
	cases := []struct {
		name       string
		pod        *corev1.Pod
		ready      string
		status     string
		restarts   string
		completedC bool
	}{
		{"pending unscheduled", podWith(func(p *corev1.Pod) { p.Status.Phase = corev1.PodPending }), "0/2", "Pending", "0", false},
		{"container creating", podWith(func(p *corev1.Pod) {
			p.Status.Phase = corev1.PodPending
			p.Status.ContainerStatuses = []corev1.ContainerStatus{
				{Name: "a", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}}},
				{Name: "b", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}}}}
		}), "0/2", "ContainerCreating", "0", false},
		{"running with restarts", podWith(func(p *corev1.Pod) {
			p.Status.Phase = corev1.PodRunning
			p.Status.ContainerStatuses = []corev1.ContainerStatus{running("a", 2, 3*time.Minute), running("b", 1, 10*time.Minute)}
		}), "2/2", "Running", "3 (3m ago)", false},
		{"crash loop", podWith(func(p *corev1.Pod) {
			p.Status.Phase = corev1.PodRunning
			p.Status.ContainerStatuses = []corev1.ContainerStatus{running("a", 0, 0),
				{Name: "b", RestartCount: 4, State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}},
					LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 1, FinishedAt: ago(40 * time.Second)}}}}
		}), "1/2", "CrashLoopBackOff", "4 (40s ago)", false},
		{"completed", podWith(func(p *corev1.Pod) {
			p.Status.Phase = corev1.PodSucceeded
			done := corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: "Completed"}}
			p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "a", State: done}, {Name: "b", State: done}}
		}), "0/2", "Completed", "0", true},
		{"error exit code without reason", podWith(func(p *corev1.Pod) {
			p.Status.Phase = corev1.PodFailed
			p.Status.ContainerStatuses = []corev1.ContainerStatus{
				{Name: "a", State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 3}}},
				{Name: "b", State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Signal: 9}}}}
		}), "0/2", "ExitCode:3", "0", true},
		{"one completed one running", podWith(func(p *corev1.Pod) {
			p.Status.Phase = corev1.PodRunning
			p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionFalse}}
			p.Status.ContainerStatuses = []corev1.ContainerStatus{running("a", 0, 0),
				{Name: "b", State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: "Completed"}}}}
		}), "1/2", "NotReady", "0", false},
		{"init waiting", podWith(func(p *corev1.Pod) {
			p.Spec.InitContainers = []corev1.Container{{Name: "i1"}, {Name: "i2"}}
			p.Status.Phase = corev1.PodPending
			p.Status.InitContainerStatuses = []corev1.ContainerStatus{
				{Name: "i1", State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 0, Reason: "Completed"}}},
				{Name: "i2", State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}}
		}), "0/2", "Init:1/2", "0", false},
		{"init crash", podWith(func(p *corev1.Pod) {
			p.Spec.InitContainers = []corev1.Container{{Name: "i1"}}
			p.Status.Phase = corev1.PodPending
			p.Status.InitContainerStatuses = []corev1.ContainerStatus{
				{Name: "i1", RestartCount: 2, State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}}}}
		}), "0/2", "Init:CrashLoopBackOff", "2", false},
		{"init failed", podWith(func(p *corev1.Pod) {
			p.Spec.InitContainers = []corev1.Container{{Name: "i1"}}
			p.Status.Phase = corev1.PodPending
			p.Status.InitContainerStatuses = []corev1.ContainerStatus{
				{Name: "i1", State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 2}}}}
		}), "0/2", "Init:ExitCode:2", "0", false},
		{"sidecar running counts as ready", podWith(func(p *corev1.Pod) {
			always := corev1.ContainerRestartPolicyAlways
			p.Spec.InitContainers = []corev1.Container{{Name: "side", RestartPolicy: &always}}
			p.Status.Phase = corev1.PodRunning
			p.Status.InitContainerStatuses = []corev1.ContainerStatus{{Name: "side", Ready: true, Started: ptr(true),
				State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}}
			p.Status.ContainerStatuses = []corev1.ContainerStatus{running("a", 0, 0), running("b", 0, 0)}
		}), "3/3", "Running", "0", false},
		{"terminating", podWith(func(p *corev1.Pod) {
			p.Status.Phase = corev1.PodRunning
			p.DeletionTimestamp = ptr(ago(time.Second))
			p.Status.ContainerStatuses = []corev1.ContainerStatus{running("a", 0, 0), running("b", 0, 0)}
		}), "2/2", "Terminating", "0", false},
		{"node lost", podWith(func(p *corev1.Pod) {
			p.Status.Phase = corev1.PodRunning
			p.Status.Reason = "NodeLost"
			p.DeletionTimestamp = ptr(ago(time.Second))
		}), "0/2", "Unknown", "0", false},
		{"evicted", podWith(func(p *corev1.Pod) {
			p.Status.Phase = corev1.PodFailed
			p.Status.Reason = "Evicted"
		}), "0/2", "Evicted", "0", true},
		{"scheduling gated", podWith(func(p *corev1.Pod) {
			p.Status.Phase = corev1.PodPending
			p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: "SchedulingGated"}}
		}), "0/2", "SchedulingGated", "0", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			row := oneRow(t, c.pod)
			expect(t, row, map[string]any{"Name": "web", "Ready": c.ready, "Status": c.status, "Restarts": c.restarts, "Age": "5m"})
			tbl, _ := ToTable(c.pod, Options{Now: now})
			completed := len(tbl.Rows[0].Conditions) == 1 && tbl.Rows[0].Conditions[0].Type == metav1.RowCompleted
			if completed != c.completedC {
				t.Errorf("completed row condition = %v, want %v", completed, c.completedC)
			}
		})
	}
}

func TestPodWideColumns(t *testing.T) {
	p := podWith(func(p *corev1.Pod) {
		p.Spec.NodeName = "node-1"
		p.Status.PodIP = "10.244.1.5"
		p.Spec.ReadinessGates = []corev1.PodReadinessGate{{ConditionType: "example.com/a"}, {ConditionType: "example.com/b"}}
		p.Status.Conditions = []corev1.PodCondition{{Type: "example.com/a", Status: corev1.ConditionTrue}}
	})
	expect(t, oneRow(t, p), map[string]any{"IP": "10.244.1.5", "Node": "node-1", "Nominated Node": "<none>", "Readiness Gates": "1/2"})
	expect(t, oneRow(t, podWith(func(*corev1.Pod) {})), map[string]any{"IP": "<none>", "Node": "<none>", "Readiness Gates": "<none>"})
}

func template() corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{
		{Name: "web", Image: "nginx:1.25"}, {Name: "log", Image: "busybox"}}}}
}

func TestWorkloads(t *testing.T) {
	sel := &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}
	d := &appsv1.Deployment{ObjectMeta: om("web"), Spec: appsv1.DeploymentSpec{Replicas: ptr(int32(3)), Selector: sel, Template: template()},
		Status: appsv1.DeploymentStatus{ReadyReplicas: 2, UpdatedReplicas: 3, AvailableReplicas: 2}}
	expect(t, oneRow(t, d), map[string]any{"Ready": "2/3", "Up-to-date": int64(3), "Available": int64(2), "Age": "5m",
		"Containers": "web,log", "Images": "nginx:1.25,busybox", "Selector": "app=web"})

	rs := &appsv1.ReplicaSet{ObjectMeta: om("web-1"), Spec: appsv1.ReplicaSetSpec{Replicas: ptr(int32(3)), Selector: sel, Template: template()},
		Status: appsv1.ReplicaSetStatus{Replicas: 3, ReadyReplicas: 1}}
	expect(t, oneRow(t, rs), map[string]any{"Desired": int64(3), "Current": int64(3), "Ready": int64(1), "Selector": "app=web"})

	tpl := template()
	tpl.Spec.NodeSelector = map[string]string{"kubernetes.io/os": "linux"}
	ds := &appsv1.DaemonSet{ObjectMeta: om("agent"), Spec: appsv1.DaemonSetSpec{Selector: sel, Template: tpl},
		Status: appsv1.DaemonSetStatus{DesiredNumberScheduled: 4, CurrentNumberScheduled: 4, NumberReady: 3, UpdatedNumberScheduled: 4, NumberAvailable: 3}}
	expect(t, oneRow(t, ds), map[string]any{"Desired": int64(4), "Current": int64(4), "Ready": int64(3), "Up-to-date": int64(4),
		"Available": int64(3), "Node Selector": "kubernetes.io/os=linux"})

	start := ago(4 * time.Minute)
	done := ago(time.Minute)
	j := &batchv1.Job{ObjectMeta: om("pi"), Spec: batchv1.JobSpec{Completions: ptr(int32(1)), Template: template(), Selector: sel},
		Status: batchv1.JobStatus{Succeeded: 1, StartTime: &start, CompletionTime: &done,
			Conditions: []batchv1.JobCondition{{Type: batchv1.JobComplete, Status: corev1.ConditionTrue}}}}
	expect(t, oneRow(t, j), map[string]any{"Status": "Complete", "Completions": "1/1", "Duration": "3m"})
	j2 := &batchv1.Job{ObjectMeta: om("par"), Spec: batchv1.JobSpec{Parallelism: ptr(int32(3)), Template: template()},
		Status: batchv1.JobStatus{StartTime: &start}}
	expect(t, oneRow(t, j2), map[string]any{"Status": "Running", "Completions": "0/1 of 3", "Duration": "4m"})
	j3 := &batchv1.Job{ObjectMeta: om("bad"), Status: batchv1.JobStatus{Conditions: []batchv1.JobCondition{{Type: batchv1.JobFailed, Status: corev1.ConditionTrue}}}}
	expect(t, oneRow(t, j3), map[string]any{"Status": "Failed", "Completions": "0/1", "Duration": ""})
}

func TestServices(t *testing.T) {
	cases := []struct {
		svc             corev1.ServiceSpec
		status          corev1.ServiceStatus
		typ, ip, ext, p string
	}{
		{corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP, ClusterIP: "10.96.0.10",
			Ports: []corev1.ServicePort{{Port: 53, Protocol: corev1.ProtocolUDP}, {Port: 53, Protocol: corev1.ProtocolTCP}}},
			corev1.ServiceStatus{}, "ClusterIP", "10.96.0.10", "<none>", "53/UDP,53/TCP"},
		{corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort, ClusterIP: "10.96.3.4",
			Ports: []corev1.ServicePort{{Port: 80, Protocol: corev1.ProtocolTCP}, {Port: 30080, NodePort: 31000, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromInt32(8080)}}},
			corev1.ServiceStatus{}, "NodePort", "10.96.3.4", "<none>", "80/TCP,30080:31000/TCP"},
		{corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, ClusterIP: "10.96.3.5", Ports: []corev1.ServicePort{{Port: 443, NodePort: 30443}}},
			corev1.ServiceStatus{}, "LoadBalancer", "10.96.3.5", "<pending>", "443:30443/TCP"},
		{corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, ClusterIP: "10.96.3.5"},
			corev1.ServiceStatus{LoadBalancer: corev1.LoadBalancerStatus{Ingress: []corev1.LoadBalancerIngress{{IP: "192.0.2.1"}, {Hostname: "lb.example"}}}},
			"LoadBalancer", "10.96.3.5", "192.0.2.1,lb.example", "<none>"},
		{corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP, ClusterIP: "None"}, corev1.ServiceStatus{}, "ClusterIP", "None", "<none>", "<none>"},
		{corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "db.example.com"}, corev1.ServiceStatus{}, "ExternalName", "<none>", "db.example.com", "<none>"},
		{corev1.ServiceSpec{ClusterIP: "10.96.0.7", ExternalIPs: []string{"198.51.100.7"}, Ports: []corev1.ServicePort{{Port: 8080}}},
			corev1.ServiceStatus{}, "ClusterIP", "10.96.0.7", "198.51.100.7", "8080/TCP"},
	}
	for _, c := range cases {
		s := &corev1.Service{ObjectMeta: om("svc"), Spec: c.svc, Status: c.status}
		expect(t, oneRow(t, s), map[string]any{"Type": c.typ, "Cluster-IP": c.ip, "External-IP": c.ext, "Port(s)": c.p, "Selector": "<none>"})
	}
	s := &corev1.Service{ObjectMeta: om("svc"), Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "web"}}}
	expect(t, oneRow(t, s), map[string]any{"Selector": "app=web"})
}

func TestEndpointsAndSlices(t *testing.T) {
	addrs := func(ips ...string) []corev1.EndpointAddress {
		var out []corev1.EndpointAddress
		for _, ip := range ips {
			out = append(out, corev1.EndpointAddress{IP: ip})
		}
		return out
	}
	e := &corev1.Endpoints{ObjectMeta: om("web"), Subsets: []corev1.EndpointSubset{
		{Addresses: addrs("10.0.0.1", "10.0.0.2"), Ports: []corev1.EndpointPort{{Port: 80}, {Port: 443}}}}}
	expect(t, oneRow(t, e), map[string]any{"Endpoints": "10.0.0.1:80,10.0.0.2:80,10.0.0.1:443 + 1 more..."})
	expect(t, oneRow(t, &corev1.Endpoints{ObjectMeta: om("empty")}), map[string]any{"Endpoints": "<none>"})
	expect(t, oneRow(t, &corev1.Endpoints{ObjectMeta: om("v6"), Subsets: []corev1.EndpointSubset{
		{Addresses: addrs("fd00::1"), Ports: []corev1.EndpointPort{{Port: 80}}}}}), map[string]any{"Endpoints": "[fd00::1]:80"})

	es := &discoveryv1.EndpointSlice{ObjectMeta: om("web-abc"), AddressType: discoveryv1.AddressTypeIPv4,
		Ports:     []discoveryv1.EndpointPort{{Port: ptr(int32(80))}, {Port: ptr(int32(443))}},
		Endpoints: []discoveryv1.Endpoint{{Addresses: []string{"10.0.0.1"}}, {Addresses: []string{"10.0.0.2"}}}}
	expect(t, oneRow(t, es), map[string]any{"AddressType": "IPv4", "Ports": "80,443", "Endpoints": "10.0.0.1,10.0.0.2"})
	expect(t, oneRow(t, &discoveryv1.EndpointSlice{ObjectMeta: om("e"), AddressType: discoveryv1.AddressTypeIPv4}),
		map[string]any{"Ports": "<unset>", "Endpoints": "<unset>"})
}

func TestNodes(t *testing.T) {
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1", CreationTimestamp: ago(49 * time.Hour),
		Labels: map[string]string{"node-role.kubernetes.io/control-plane": "", "node-role.kubernetes.io/worker": "true"}},
		Spec: corev1.NodeSpec{Unschedulable: true},
		Status: corev1.NodeStatus{
			Conditions: []corev1.NodeCondition{{Type: corev1.NodeMemoryPressure, Status: corev1.ConditionFalse}, {Type: corev1.NodeReady, Status: corev1.ConditionTrue}},
			Addresses:  []corev1.NodeAddress{{Type: corev1.NodeHostName, Address: "n1"}, {Type: corev1.NodeInternalIP, Address: "192.168.1.10"}},
			NodeInfo:   corev1.NodeSystemInfo{KubeletVersion: "v1.33.0+skiff", OSImage: "Debian", KernelVersion: "6.18.0", ContainerRuntimeVersion: "containerd://1.6.20"},
		}}
	expect(t, oneRow(t, n), map[string]any{"Status": "Ready,SchedulingDisabled", "Roles": "control-plane,worker", "Age": "2d1h",
		"Version": "v1.33.0+skiff", "Internal-IP": "192.168.1.10", "External-IP": "<none>", "OS-Image": "Debian",
		"Kernel-Version": "6.18.0", "Container-Runtime": "containerd://1.6.20"})
	n2 := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n2", Labels: map[string]string{"kubernetes.io/role": "edge"}},
		Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionUnknown}}}}
	expect(t, oneRow(t, n2), map[string]any{"Status": "NotReady", "Roles": "edge", "Age": "<unknown>", "OS-Image": "<unknown>"})
	expect(t, oneRow(t, &corev1.Node{ObjectMeta: om("n3")}), map[string]any{"Status": "Unknown", "Roles": "<none>"})
}

func TestSmallKinds(t *testing.T) {
	expect(t, oneRow(t, &corev1.Namespace{ObjectMeta: om("dev"), Status: corev1.NamespaceStatus{Phase: corev1.NamespaceTerminating}}),
		map[string]any{"Name": "dev", "Status": "Terminating", "Age": "5m"})
	expect(t, oneRow(t, &corev1.ConfigMap{ObjectMeta: om("cfg"), Data: map[string]string{"a": "1", "b": "2"}, BinaryData: map[string][]byte{"c": {1}}}),
		map[string]any{"Data": int64(3)})
	expect(t, oneRow(t, &corev1.Secret{ObjectMeta: om("s"), Type: corev1.SecretTypeOpaque, Data: map[string][]byte{"a": nil}, StringData: map[string]string{"a": "x", "b": "y"}}),
		map[string]any{"Type": "Opaque", "Data": int64(2)})
	expect(t, oneRow(t, &corev1.ServiceAccount{ObjectMeta: om("default"), Secrets: []corev1.ObjectReference{{Name: "tok"}}}),
		map[string]any{"Secrets": int64(1)})
	expect(t, oneRow(t, &coordinationv1.Lease{ObjectMeta: om("n1"), Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr("n1")}}),
		map[string]any{"Holder": "n1"})
	expect(t, oneRow(t, &rbacv1.Role{ObjectMeta: om("r")}), map[string]any{"Name": "r", "Age": "5m"})
}

func TestEvents(t *testing.T) {
	e := &corev1.Event{ObjectMeta: om("web.123"), Type: "Warning", Reason: "BackOff", Message: "Back-off restarting failed container\n",
		InvolvedObject: corev1.ObjectReference{Kind: "Pod", Name: "web", FieldPath: "spec.containers{a}"},
		Source:         corev1.EventSource{Component: "kubelet", Host: "n1"},
		FirstTimestamp: ago(10 * time.Minute), LastTimestamp: ago(2 * time.Minute), Count: 7}
	expect(t, oneRow(t, e), map[string]any{"Last Seen": "2m", "Type": "Warning", "Reason": "BackOff", "Object": "pod/web",
		"Message": "Back-off restarting failed container", "Subobject": "spec.containers{a}", "Source": "kubelet, n1",
		"First Seen": "10m", "Count": int64(7), "Name": "web.123"})
	e2 := &corev1.Event{ObjectMeta: om("x"), EventTime: metav1.NewMicroTime(now.Add(-30 * time.Second)), ReportingController: "skiff-scheduler",
		InvolvedObject: corev1.ObjectReference{Kind: "Pod", Name: "p"}}
	expect(t, oneRow(t, e2), map[string]any{"Last Seen": "30s", "First Seen": "30s", "Count": int64(1), "Source": "skiff-scheduler"})
}

func TestListsAndRowObjects(t *testing.T) {
	list := &corev1.PodList{ListMeta: metav1.ListMeta{ResourceVersion: "99", Continue: "tok"},
		Items: []corev1.Pod{{ObjectMeta: om("a")}, {ObjectMeta: om("b")}}}
	tbl, err := ToTable(list, Options{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	if len(tbl.Rows) != 2 || tbl.ResourceVersion != "99" || tbl.Continue != "tok" || tbl.Rows[1].Cells[0] != "b" {
		t.Fatalf("list table = rv %q continue %q rows %d", tbl.ResourceVersion, tbl.Continue, len(tbl.Rows))
	}
	var pom metav1.PartialObjectMetadata
	if err := json.Unmarshal(tbl.Rows[0].Object.Raw, &pom); err != nil {
		t.Fatal(err)
	}
	if pom.Kind != "PartialObjectMetadata" || pom.APIVersion != "meta.k8s.io/v1" || pom.Name != "a" || pom.Namespace != "ns1" || pom.Labels["app"] != "a" {
		t.Fatalf("row object = %+v", pom)
	}
	// The whole table encodes with the row objects inline.
	js, err := json.Marshal(tbl)
	if err != nil || !strings.Contains(string(js), `"kind":"PartialObjectMetadata"`) {
		t.Fatalf("table JSON: %v %s", err, js)
	}

	tbl, _ = ToTable(list, Options{Now: now, IncludeObject: metav1.IncludeObject})
	var pod corev1.Pod
	if err := json.Unmarshal(tbl.Rows[0].Object.Raw, &pod); err != nil || pod.Kind != "Pod" || pod.APIVersion != "v1" || pod.Name != "a" {
		t.Fatalf("full row object = %v %+v", err, pod.TypeMeta)
	}
	if list.Items[0].Kind != "" {
		t.Fatal("ToTable modified its input")
	}
	d, _ := ToTable(&appsv1.Deployment{ObjectMeta: om("d")}, Options{IncludeObject: metav1.IncludeObject})
	if raw := string(d.Rows[0].Object.Raw); !strings.Contains(raw, `"apiVersion":"apps/v1"`) || !strings.Contains(raw, `"kind":"Deployment"`) {
		t.Fatalf("deployment row object = %s", d.Rows[0].Object.Raw)
	}

	tbl, _ = ToTable(list, Options{Now: now, IncludeObject: metav1.IncludeNone, NoHeaders: true})
	if len(tbl.ColumnDefinitions) != 0 || tbl.Rows[0].Object.Raw != nil || tbl.Rows[0].Object.Object != nil {
		t.Fatalf("NoHeaders/None table = %+v", tbl)
	}

	empty, err := ToTable(&appsv1.DeploymentList{}, Options{})
	if err != nil || len(empty.Rows) != 0 || empty.Rows == nil || len(empty.ColumnDefinitions) != 8 {
		t.Fatalf("empty list table = %v %+v", err, empty)
	}
	if _, err := ToTable((*corev1.Pod)(nil), Options{}); err == nil {
		t.Fatal("nil pod accepted")
	}
}
