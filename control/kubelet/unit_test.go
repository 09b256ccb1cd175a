package kubelet

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
)

func TestBackoffDoublesToCapAndResets(t *testing.T) {
	var b backoff
	want := []time.Duration{0, 10 * time.Second, 20 * time.Second, 40 * time.Second, 80 * time.Second, 160 * time.Second, 5 * time.Minute, 5 * time.Minute}
	for i, w := range want {
		if got := b.next(time.Second); got != w {
			t.Fatalf("restart %d: back-off %v, want %v", i, got, w)
		}
	}
	if got := b.next(11 * time.Minute); got != 0 {
		t.Fatalf("after a long run back-off is %v, want 0", got)
	}
}

func TestResolveEnv(t *testing.T) {
	client := fake.NewSimpleClientset(
		&v1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cm", Namespace: "ns"}, Data: map[string]string{"A": "1", "B": "2"}},
		&v1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "sec", Namespace: "ns"}, Data: map[string][]byte{"pw": []byte("s3cret")}},
	)
	yes := true
	pod := &v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns", UID: "u1", Labels: map[string]string{"app": "web"}}, Spec: v1.PodSpec{NodeName: "n1"}}
	c := &v1.Container{
		EnvFrom: []v1.EnvFromSource{
			{Prefix: "CM_", ConfigMapRef: &v1.ConfigMapEnvSource{LocalObjectReference: v1.LocalObjectReference{Name: "cm"}}},
			{SecretRef: &v1.SecretEnvSource{LocalObjectReference: v1.LocalObjectReference{Name: "gone"}, Optional: &yes}},
		},
		Env: []v1.EnvVar{
			{Name: "POD_NAME", ValueFrom: &v1.EnvVarSource{FieldRef: &v1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
			{Name: "POD_NAMESPACE", ValueFrom: &v1.EnvVarSource{FieldRef: &v1.ObjectFieldSelector{FieldPath: "metadata.namespace"}}},
			{Name: "POD_IP", ValueFrom: &v1.EnvVarSource{FieldRef: &v1.ObjectFieldSelector{FieldPath: "status.podIP"}}},
			{Name: "NODE_NAME", ValueFrom: &v1.EnvVarSource{FieldRef: &v1.ObjectFieldSelector{FieldPath: "spec.nodeName"}}},
			{Name: "APP", ValueFrom: &v1.EnvVarSource{FieldRef: &v1.ObjectFieldSelector{FieldPath: "metadata.labels['app']"}}},
			{Name: "PW", ValueFrom: &v1.EnvVarSource{SecretKeyRef: &v1.SecretKeySelector{LocalObjectReference: v1.LocalObjectReference{Name: "sec"}, Key: "pw"}}},
			{Name: "B", ValueFrom: &v1.EnvVarSource{ConfigMapKeyRef: &v1.ConfigMapKeySelector{LocalObjectReference: v1.LocalObjectReference{Name: "cm"}, Key: "B"}}},
			{Name: "URL", Value: "http://$(POD_IP):80/$(NOPE)/$$(POD_NAME)"},
		},
	}
	env, err := resolveEnv(context.Background(), envSource{client: client, nodeName: "n1", podIP: "10.0.0.5"}, pod, c)
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(env, "\n")
	want := strings.Join([]string{"CM_A=1", "CM_B=2", "POD_NAME=p", "POD_NAMESPACE=ns", "POD_IP=10.0.0.5", "NODE_NAME=n1", "APP=web", "PW=s3cret", "B=2",
		"URL=http://10.0.0.5:80/$(NOPE)/$(POD_NAME)"}, "\n")
	if got != want {
		t.Fatalf("env:\n%s\nwant:\n%s", got, want)
	}
	// A missing required key is a clear error.
	c2 := &v1.Container{Env: []v1.EnvVar{{Name: "X", ValueFrom: &v1.EnvVarSource{ConfigMapKeyRef: &v1.ConfigMapKeySelector{LocalObjectReference: v1.LocalObjectReference{Name: "cm"}, Key: "missing"}}}}}
	if _, err := resolveEnv(context.Background(), envSource{client: client}, pod, c2); err == nil || !strings.Contains(err.Error(), `has no key "missing"`) {
		t.Fatalf("missing key: %v", err)
	}
	c3 := &v1.Container{Env: []v1.EnvVar{{Name: "X", ValueFrom: &v1.EnvVarSource{SecretKeyRef: &v1.SecretKeySelector{LocalObjectReference: v1.LocalObjectReference{Name: "nosuch"}, Key: "k"}}}}}
	if _, err := resolveEnv(context.Background(), envSource{client: client}, pod, c3); err == nil || !strings.Contains(err.Error(), `secret "nosuch"`) {
		t.Fatalf("missing secret: %v", err)
	}
}

func TestResolvConfPolicies(t *testing.T) {
	host := []byte("# host\nnameserver 192.168.1.1\nsearch lan\noptions edns0\n")
	pod := &v1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "demo"}}
	got := resolvConf(pod, []string{"10.96.0.10"}, "cluster.local", host)
	want := "nameserver 10.96.0.10\nsearch demo.svc.cluster.local svc.cluster.local cluster.local\noptions ndots:5\n"
	if got != want {
		t.Fatalf("ClusterFirst:\n%s", got)
	}
	pod.Spec.DNSPolicy = v1.DNSDefault
	if got := resolvConf(pod, []string{"10.96.0.10"}, "cluster.local", host); got != "nameserver 192.168.1.1\nsearch lan\noptions edns0\n" {
		t.Fatalf("Default:\n%s", got)
	}
	two := "2"
	pod.Spec.DNSPolicy = v1.DNSNone
	pod.Spec.DNSConfig = &v1.PodDNSConfig{Nameservers: []string{"1.1.1.1"}, Searches: []string{"a.example"}, Options: []v1.PodDNSConfigOption{{Name: "ndots", Value: &two}}}
	if got := resolvConf(pod, []string{"10.96.0.10"}, "cluster.local", host); got != "nameserver 1.1.1.1\nsearch a.example\noptions ndots:2\n" {
		t.Fatalf("None+dnsConfig:\n%s", got)
	}
	pod.Spec.DNSPolicy = v1.DNSClusterFirst
	if got := resolvConf(pod, []string{"10.96.0.10"}, "cluster.local", host); got != "nameserver 10.96.0.10\nnameserver 1.1.1.1\nsearch demo.svc.cluster.local svc.cluster.local cluster.local a.example\noptions ndots:2\n" {
		t.Fatalf("ClusterFirst+dnsConfig:\n%s", got)
	}
}

func TestHostsFile(t *testing.T) {
	pod := &v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web-0", Namespace: "demo"}, Spec: v1.PodSpec{Subdomain: "web",
		HostAliases: []v1.HostAlias{{IP: "10.1.1.1", Hostnames: []string{"foo", "bar"}}}}}
	got := hostsFile(pod, "10.244.0.7", "cluster.local")
	for _, want := range []string{"127.0.0.1\tlocalhost\n", "10.244.0.7\tweb-0.web.demo.svc.cluster.local\tweb-0\n", "10.1.1.1\tfoo\tbar\n"} {
		if !strings.Contains(got, want) {
			t.Fatalf("hosts lacks %q:\n%s", want, got)
		}
	}
}

func TestNormalizeImage(t *testing.T) {
	for in, want := range map[string]string{
		"nginx": "docker.io/library/nginx:latest", "skiff/testapp:v1": "docker.io/skiff/testapp:v1",
		"registry.k8s.io/pause:3.9": "registry.k8s.io/pause:3.9",
	} {
		if got, err := normalizeImage(in); err != nil || got != want {
			t.Errorf("%s -> %s, %v; want %s", in, got, err, want)
		}
	}
	if _, err := normalizeImage("skiff/Bad Name"); err == nil {
		t.Error("invalid name accepted")
	}
}

func TestHTTPAndTCPChecks(t *testing.T) {
	var mu sync.Mutex
	status := 200
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if r.URL.Path != "/healthz" || r.Header.Get("X-Probe") != "yes" {
			w.WriteHeader(404)
			return
		}
		w.WriteHeader(status)
	}))
	defer ts.Close()
	u, _ := url.Parse(ts.URL)
	host, portS, _ := net.SplitHostPort(u.Host)
	port, _ := strconv.Atoi(portS)
	c := &v1.Container{Name: "app", Ports: []v1.ContainerPort{{Name: "http", ContainerPort: int32(port)}}}
	check, err := httpCheck(&v1.HTTPGetAction{Path: "healthz", Port: intstr.FromString("http"),
		HTTPHeaders: []v1.HTTPHeader{{Name: "X-Probe", Value: "yes"}}}, host, c, nsDialer(""))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := check(ctx); err != nil {
		t.Fatalf("healthy server failed: %v", err)
	}
	mu.Lock()
	status = 503
	mu.Unlock()
	if err := check(ctx); err == nil || !strings.Contains(err.Error(), "503") {
		t.Fatalf("503 passed: %v", err)
	}
	if _, err := httpCheck(&v1.HTTPGetAction{Port: intstr.FromString("nope")}, host, c, nsDialer("")); err == nil {
		t.Fatal("unknown named port accepted")
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tcp, err := tcpCheck(&v1.TCPSocketAction{Port: intstr.FromInt32(int32(ln.Addr().(*net.TCPAddr).Port))}, "127.0.0.1", c, nsDialer(""))
	if err != nil {
		t.Fatal(err)
	}
	if err := tcp(ctx); err != nil {
		t.Fatalf("open port failed: %v", err)
	}
	ln.Close()
	if err := tcp(ctx); err == nil {
		t.Fatal("closed port passed")
	}
}

func TestRunProbeThresholds(t *testing.T) {
	// Results: pass pass fail fail fail pass ...; success 2, failure 3.
	seq := []bool{true, true, false, false, false, true, true}
	var mu sync.Mutex
	i := 0
	check := func(context.Context) error {
		mu.Lock()
		defer mu.Unlock()
		ok := i >= len(seq) || seq[i]
		i++
		if ok {
			return nil
		}
		return context.DeadlineExceeded
	}
	var got []bool
	done := make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		runProbe(ctx, probeTimings{period: 5 * time.Millisecond, timeout: time.Second, success: 2, failure: 3}, check, func(ok bool, _ string) bool {
			got = append(got, ok)
			if len(got) == 3 {
				close(done)
				return true
			}
			return false
		})
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatalf("probe reported only %v", got)
	}
	if want := []bool{true, false, true}; len(got) != 3 || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
		t.Fatalf("verdicts %v, want %v", got, want)
	}
	if i != 7 {
		t.Fatalf("checks run %d, want 7 (verdicts only at thresholds)", i)
	}
}

func TestTimingsDefaults(t *testing.T) {
	got := timings(&v1.Probe{})
	if got.period != 10*time.Second || got.timeout != time.Second || got.success != 1 || got.failure != 3 {
		t.Fatalf("defaults: %+v", got)
	}
}

func TestStatusComputation(t *testing.T) {
	client := fake.NewSimpleClientset()
	k, err := New(Config{NodeName: "n1", NodeIP: "192.0.2.1", Client: client, Containerd: nil, DataDir: t.TempDir()})
	if err == nil || k != nil {
		t.Fatal("New accepted a config without containerd")
	}
	k = &Kubelet{cfg: Config{NodeName: "n1", NodeIP: "192.0.2.1", Client: client}, log: slog.Default()}
	pod := &v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns", UID: "u"}, Spec: v1.PodSpec{
		RestartPolicy:  v1.RestartPolicyNever,
		InitContainers: []v1.Container{{Name: "init"}},
		Containers:     []v1.Container{{Name: "a", Image: "x"}, {Name: "b", Image: "y"}},
	}}
	w := newPodWorker(k, pod)
	w.podIP = "10.0.0.9"
	st := w.statusLocked()
	if st.Phase != v1.PodPending || cond(st, v1.PodInitialized) != v1.ConditionFalse || cond(st, v1.PodReady) != v1.ConditionFalse ||
		cond(st, v1.PodReadyToStartContainers) != v1.ConditionFalse {
		t.Fatalf("fresh pod: %+v", st)
	}
	w.sandbox = true
	if st.ContainerStatuses[0].State.Waiting.Reason != "ContainerCreating" || st.PodIP != "10.0.0.9" || st.HostIP != "192.0.2.1" {
		t.Fatalf("fresh pod containers: %+v", st)
	}
	w.inits[0].state = v1.ContainerState{Terminated: &v1.ContainerStateTerminated{ExitCode: 0, Reason: "Completed"}}
	for _, c := range w.ctrs {
		c.inst = &instance{id: "id-" + c.spec.Name}
		c.state = v1.ContainerState{Running: &v1.ContainerStateRunning{}}
		c.started = true
	}
	w.ctrs[0].ready = true
	st = w.statusLocked()
	if st.Phase != v1.PodRunning || cond(st, v1.PodInitialized) != v1.ConditionTrue || cond(st, v1.PodReady) != v1.ConditionFalse || !st.ContainerStatuses[0].Ready || st.ContainerStatuses[1].Ready ||
		cond(st, v1.PodReadyToStartContainers) != v1.ConditionTrue {
		t.Fatalf("one ready: %+v", st)
	}
	w.ctrs[1].ready = true
	if st = w.statusLocked(); cond(st, v1.PodReady) != v1.ConditionTrue || cond(st, v1.ContainersReady) != v1.ConditionTrue {
		t.Fatalf("all ready: %+v", st.Conditions)
	}
	// Both exit, one with an error: restartPolicy Never makes the pod Failed.
	for i, c := range w.ctrs {
		c.inst, c.ready = nil, false
		c.state = v1.ContainerState{Terminated: &v1.ContainerStateTerminated{ExitCode: int32(i), ContainerID: "containerd://x"}}
	}
	if st = w.statusLocked(); st.Phase != v1.PodFailed || cond(st, v1.PodReady) != v1.ConditionFalse || st.ContainerStatuses[1].State.Terminated.ExitCode != 1 {
		t.Fatalf("failed pod: %+v", st)
	}
	w.ctrs[1].state.Terminated.ExitCode = 0
	if st = w.statusLocked(); st.Phase != v1.PodSucceeded {
		t.Fatalf("succeeded pod: %s", st.Phase)
	}
	// restartPolicy Always: a crashed container in back-off keeps the pod Running.
	w.pod.Spec.RestartPolicy = v1.RestartPolicyAlways
	w.ctrs[0].waiting = &v1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}
	w.ctrs[0].restarts = 3
	st = w.statusLocked()
	cs := st.ContainerStatuses[0]
	if st.Phase != v1.PodRunning || cs.State.Waiting == nil || cs.State.Waiting.Reason != "CrashLoopBackOff" || cs.RestartCount != 3 || cs.LastTerminationState.Terminated == nil {
		t.Fatalf("crash loop: %+v", st)
	}
}

func cond(st v1.PodStatus, t v1.PodConditionType) v1.ConditionStatus {
	for _, c := range st.Conditions {
		if c.Type == t {
			return c.Status
		}
	}
	return ""
}

func TestVolumesAndMounts(t *testing.T) {
	mode := int32(0o600)
	client := fake.NewSimpleClientset(
		&v1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cm", Namespace: "ns"}, Data: map[string]string{"a.conf": "A", "b.conf": "B"}},
		&v1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "sec", Namespace: "ns"}, Data: map[string][]byte{"token": []byte("T")}},
	)
	dir := t.TempDir()
	hostDir := filepath.Join(dir, "host", "data")
	dirOrCreate := v1.HostPathDirectoryOrCreate
	pod := &v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns"}, Spec: v1.PodSpec{Volumes: []v1.Volume{
		{Name: "scratch", VolumeSource: v1.VolumeSource{EmptyDir: &v1.EmptyDirVolumeSource{}}},
		{Name: "host", VolumeSource: v1.VolumeSource{HostPath: &v1.HostPathVolumeSource{Path: hostDir, Type: &dirOrCreate}}},
		{Name: "cfg", VolumeSource: v1.VolumeSource{ConfigMap: &v1.ConfigMapVolumeSource{LocalObjectReference: v1.LocalObjectReference{Name: "cm"},
			Items: []v1.KeyToPath{{Key: "a.conf", Path: "sub/a.conf"}}}}},
		{Name: "sec", VolumeSource: v1.VolumeSource{Secret: &v1.SecretVolumeSource{SecretName: "sec", DefaultMode: &mode}}},
	}}}
	vols, err := prepareVolumes(context.Background(), client, pod, filepath.Join(dir, "pod"))
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(vols["cfg"], "sub/a.conf")); string(b) != "A" {
		t.Fatalf("configmap item: %q", b)
	}
	if _, err := os.Stat(filepath.Join(vols["cfg"], "b.conf")); !os.IsNotExist(err) {
		t.Fatal("configmap key outside items written")
	}
	if st, err := os.Stat(filepath.Join(vols["sec"], "token")); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("secret file: %v %v", st, err)
	}
	if st, err := os.Stat(hostDir); err != nil || !st.IsDir() || vols["host"] != hostDir {
		t.Fatalf("hostPath: %v", err)
	}
	c := &v1.Container{VolumeMounts: []v1.VolumeMount{{Name: "scratch", MountPath: "/s"}, {Name: "sec", MountPath: "/var/run/secrets", ReadOnly: true}}}
	mounts, err := containerMounts(c, vols, filepath.Join(dir, "pod"))
	if err != nil {
		t.Fatal(err)
	}
	if len(mounts) != 5 || mounts[1].Options[2] != "ro" || mounts[2].Destination != "/etc/hosts" {
		t.Fatalf("mounts: %+v", mounts)
	}
	if _, err := containerMounts(&v1.Container{VolumeMounts: []v1.VolumeMount{{Name: "nope", MountPath: "/x"}}}, vols, dir); err == nil {
		t.Fatal("mount of unknown volume accepted")
	}
	pod.Spec.Volumes = append(pod.Spec.Volumes, v1.Volume{Name: "missing", VolumeSource: v1.VolumeSource{ConfigMap: &v1.ConfigMapVolumeSource{LocalObjectReference: v1.LocalObjectReference{Name: "gone"}}}})
	if _, err := prepareVolumes(context.Background(), client, pod, filepath.Join(dir, "pod")); err == nil || !strings.Contains(err.Error(), `configmap "gone"`) {
		t.Fatalf("missing configmap: %v", err)
	}
}

func TestResourceOpts(t *testing.T) {
	c := &v1.Container{Resources: v1.ResourceRequirements{
		Limits:   v1.ResourceList{v1.ResourceMemory: resource.MustParse("64Mi"), v1.ResourceCPU: resource.MustParse("500m")},
		Requests: v1.ResourceList{v1.ResourceCPU: resource.MustParse("250m")},
	}}
	if n := len(resourceOpts(c)); n != 3 {
		t.Fatalf("resource opts: %d, want memory, CFS quota and shares", n)
	}
}

func TestTailOffset(t *testing.T) {
	p := filepath.Join(t.TempDir(), "log")
	os.WriteFile(p, []byte("one\ntwo\nthree\n"), 0o644)
	f, _ := os.Open(p)
	defer f.Close()
	for n, want := range map[int64]string{1: "three\n", 2: "two\nthree\n", 9: "one\ntwo\nthree\n"} {
		off := tailOffset(f, n)
		b := make([]byte, 100)
		m, _ := f.ReadAt(b, off)
		if string(b[:m]) != want {
			t.Errorf("tail %d: %q, want %q", n, b[:m], want)
		}
	}
}

func TestRegisterNodeAndHeartbeat(t *testing.T) {
	client := fake.NewSimpleClientset()
	ctx := context.Background()
	node, err := RegisterNode(ctx, client, NodeInfo{Name: "n1", IP: "192.0.2.7", PodCIDR: "10.244.3.0/24", DataDir: t.TempDir(), Labels: map[string]string{"role": "worker"}})
	if err != nil {
		t.Fatal(err)
	}
	if node.Spec.PodCIDR != "10.244.3.0/24" || node.Labels["role"] != "worker" || node.Labels["kubernetes.io/hostname"] != "n1" {
		t.Fatalf("node: %+v", node)
	}
	if node.Status.Addresses[0] != (v1.NodeAddress{Type: v1.NodeInternalIP, Address: "192.0.2.7"}) {
		t.Fatalf("addresses: %+v", node.Status.Addresses)
	}
	if cpu := node.Status.Capacity[v1.ResourceCPU]; cpu.Value() < 1 {
		t.Fatalf("capacity: %+v", node.Status.Capacity)
	}
	if mem := node.Status.Allocatable[v1.ResourceMemory]; mem.Value() < 1<<20 {
		t.Fatalf("allocatable: %+v", node.Status.Allocatable)
	}
	var types []string
	for _, c := range node.Status.Conditions {
		types = append(types, string(c.Type))
		if c.Type == v1.NodeReady && (c.Status != v1.ConditionTrue || c.Reason != "KubeletReady") {
			t.Fatalf("Ready condition: %+v", c)
		}
	}
	if strings.Join(types, ",") != "MemoryPressure,DiskPressure,PIDPressure,Ready" {
		t.Fatalf("conditions: %+v", node.Status.Conditions)
	}
	// A different podCIDR for an existing node is refused.
	if _, err := RegisterNode(ctx, client, NodeInfo{Name: "n1", PodCIDR: "10.9.9.0/24"}); err == nil || !strings.Contains(err.Error(), "already has podCIDR") {
		t.Fatalf("podCIDR change: %v", err)
	}
	hctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { Heartbeat(hctx, client, "n1", t.TempDir(), 20*time.Millisecond, slog.Default()); close(done) }()
	var first *metav1.MicroTime
	ok := waitFor(ctx, 5*time.Second, 10*time.Millisecond, func() bool {
		l, err := client.CoordinationV1().Leases("kube-node-lease").Get(ctx, "n1", metav1.GetOptions{})
		if err != nil {
			return false
		}
		if first == nil {
			first = l.Spec.RenewTime
			return false
		}
		return l.Spec.RenewTime.After(first.Time) && *l.Spec.HolderIdentity == "n1"
	})
	cancel()
	<-done
	if !ok {
		t.Fatal("lease was not created and renewed")
	}
}

func TestNodePressureConditions(t *testing.T) {
	ok := nodeReadings{memAvailable: 4 << 30, diskFree: 0.5, inodeFree: 0.9, pidFree: 0.99}
	cases := []struct {
		name string
		r    func(r *nodeReadings)
		want string // the condition that is True, or ""
	}{
		{"healthy", func(*nodeReadings) {}, ""},
		{"memory below 100Mi", func(r *nodeReadings) { r.memAvailable = 99 << 20 }, "MemoryPressure"},
		{"disk below 10% free", func(r *nodeReadings) { r.diskFree = 0.09 }, "DiskPressure"},
		{"inodes below 5% free", func(r *nodeReadings) { r.inodeFree = 0.04 }, "DiskPressure"},
		{"pids below 5% free", func(r *nodeReadings) { r.pidFree = 0.04 }, "PIDPressure"},
		{"unreadable", func(r *nodeReadings) { *r = nodeReadings{-1, -1, -1, -1} }, ""},
	}
	for _, tc := range cases {
		r := ok
		tc.r(&r)
		node := &v1.Node{}
		setConditions(node, time.Now(), r)
		for _, c := range node.Status.Conditions {
			wantTrue := c.Type == v1.NodeReady || string(c.Type) == tc.want
			if (c.Status == v1.ConditionTrue) != wantTrue || c.Reason == "" || c.Message == "" {
				t.Errorf("%s: %s is %s (%s)", tc.name, c.Type, c.Status, c.Reason)
			}
		}
	}
	// The transition time moves only when a status changes.
	node := &v1.Node{}
	t0 := time.Now().Add(-time.Hour)
	setConditions(node, t0, ok)
	setConditions(node, time.Now(), ok)
	low := ok
	low.memAvailable = 1 << 20
	setConditions(node, time.Now(), low)
	for _, c := range node.Status.Conditions {
		moved := !c.LastTransitionTime.Time.Equal(metav1.NewTime(t0).Time)
		if moved != (c.Type == v1.NodeMemoryPressure) || c.LastHeartbeatTime.Time.Before(c.LastTransitionTime.Time) {
			t.Errorf("%s: transition %v, heartbeat %v", c.Type, c.LastTransitionTime, c.LastHeartbeatTime)
		}
	}
	// The machine's own readings are taken.
	if r := readNode(t.TempDir()); r.memAvailable <= 0 || r.diskFree < 0 || r.pidFree <= 0 {
		t.Errorf("readings: %+v", r)
	}
}

func TestServiceEnv(t *testing.T) {
	client := fake.NewSimpleClientset(
		&v1.Service{ObjectMeta: metav1.ObjectMeta{Name: "kubernetes", Namespace: "default"}, Spec: v1.ServiceSpec{ClusterIP: "10.96.0.1", Ports: []v1.ServicePort{{Name: "https", Port: 443, Protocol: v1.ProtocolTCP}}}},
		&v1.Service{ObjectMeta: metav1.ObjectMeta{Name: "my-db", Namespace: "demo"}, Spec: v1.ServiceSpec{ClusterIP: "10.96.3.4", Ports: []v1.ServicePort{{Name: "sql", Port: 3306, Protocol: v1.ProtocolTCP}}}},
		&v1.Service{ObjectMeta: metav1.ObjectMeta{Name: "headless", Namespace: "demo"}, Spec: v1.ServiceSpec{ClusterIP: "None", Ports: []v1.ServicePort{{Port: 80}}}},
	)
	// From the API, and from an informer's cache of the same Services.
	f := informers.NewSharedInformerFactory(client, 0)
	inf := f.Core().V1().Services()
	cached := &ServiceCache{Lister: inf.Lister(), Synced: inf.Informer().HasSynced}
	stop := make(chan struct{})
	defer close(stop)
	f.Start(stop)
	f.WaitForCacheSync(stop)
	for _, src := range []envSource{{client: client}, {client: fake.NewSimpleClientset(), services: cached}} {
		testServiceEnv(t, src)
	}
}

func testServiceEnv(t *testing.T, src envSource) {
	pod := &v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "demo"}}
	env, err := resolveEnv(context.Background(), src, pod, &v1.Container{Env: []v1.EnvVar{{Name: "MY_DB_SERVICE_PORT", Value: "override"}}})
	if err != nil {
		t.Fatal(err)
	}
	got := "\n" + strings.Join(env, "\n") + "\n"
	for _, want := range []string{"KUBERNETES_SERVICE_HOST=10.96.0.1", "KUBERNETES_SERVICE_PORT=443", "MY_DB_SERVICE_HOST=10.96.3.4",
		"MY_DB_SERVICE_PORT=override", "MY_DB_SERVICE_PORT_SQL=3306", "MY_DB_PORT=tcp://10.96.3.4:3306", "MY_DB_PORT_3306_TCP_ADDR=10.96.3.4"} {
		if !strings.Contains(got, "\n"+want+"\n") {
			t.Errorf("env lacks %s:%s", want, got)
		}
	}
	if strings.Contains(got, "HEADLESS") {
		t.Errorf("headless service in env:%s", got)
	}
	no := false
	pod.Spec.EnableServiceLinks = &no
	env, _ = resolveEnv(context.Background(), src, pod, &v1.Container{})
	if got := strings.Join(env, " "); strings.Contains(got, "MY_DB") || !strings.Contains(got, "KUBERNETES_SERVICE_HOST") {
		t.Errorf("enableServiceLinks=false: %s", got)
	}
}

func TestFollowReader(t *testing.T) {
	p := filepath.Join(t.TempDir(), "0.log")
	os.WriteFile(p, []byte("a\n"), 0o644)
	f, _ := os.Open(p)
	done := make(chan struct{})
	r := &followReader{ctx: context.Background(), f: f, done: done}
	defer r.Close()
	got := make(chan string)
	go func() {
		var b strings.Builder
		buf := make([]byte, 64)
		for {
			n, err := r.Read(buf)
			b.Write(buf[:n])
			if err != nil {
				got <- b.String()
				return
			}
		}
	}()
	time.Sleep(300 * time.Millisecond)
	lf, _ := os.OpenFile(p, os.O_APPEND|os.O_WRONLY, 0)
	lf.WriteString("b\n")
	lf.Close()
	time.Sleep(300 * time.Millisecond)
	close(done)
	select {
	case s := <-got:
		if s != "a\nb\n" {
			t.Fatalf("followed %q", s)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("follow did not end after the container exited")
	}
}

func TestShimGroup(t *testing.T) {
	perPod := &Kubelet{}
	if g1, g2 := perPod.shimGroup("u1"), perPod.shimGroup("u2"); g1 == g2 || g1 != perPod.shimGroup("u1") {
		t.Fatalf("ShimGroups 0: pods u1, u2 got %q, %q; want one shim per pod, stable", g1, g2)
	}
	shared := &Kubelet{cfg: Config{ShimGroups: 3}}
	pods := map[string]int{}
	last := ""
	for i := 0; i < 200; i++ {
		g := shared.shimGroup(types.UID(fmt.Sprintf("pod-%d", i)))
		if g == last {
			t.Fatalf("ShimGroups 3: pods %d and %d, arriving one after the other, share shim %q", i-1, i, g)
		}
		pods[g]++
		last = g
	}
	if len(pods) != 3 || pods["skiff-shim-0"] != 67 || pods["skiff-shim-1"] != 67 || pods["skiff-shim-2"] != 66 {
		t.Fatalf("ShimGroups 3: 200 pods spread as %v, want 67, 67 and 66 over 3 shims", pods)
	}
}
