package kubelet

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/skiffnet/skiff/dataplane/podnet"
	"github.com/skiffnet/skiff/internal/agentclean"
	"github.com/skiffnet/skiff/internal/nstest"
	skctrd "github.com/skiffnet/skiff/node/containerd"
)

// testappTar returns test/images/out/testapp.tar, building it if missing.
func testappTar(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	tar := filepath.Join(root, "test/images/out/testapp.tar")
	if _, err := os.Stat(tar); err == nil {
		return tar
	}
	cmd := exec.Command(filepath.Join(root, "test/images/build.sh"))
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build test images: %v\n%s", err, out)
	}
	return tar
}

// kubeletEnv is a containerd, a host-playing netns and a podnet for one test.
type kubeletEnv struct {
	ctrd    *skctrd.Daemon
	net     *podnet.Network
	host    *nstest.NS
	cidr    netip.Prefix
	prefix  string
	dataDir string
	cfg     Config
}

func newKubeletEnv(t *testing.T, client *fake.Clientset) *kubeletEnv {
	t.Helper()
	ctx := context.Background()
	tar := testappTar(t)
	tp := nstest.New(t)
	host, err := tp.NS("host")
	if err != nil {
		t.Fatal(err)
	}
	// The namespace plays the node: it holds the node IP, which the pods'
	// replies to probes and test requests are routed back to.
	if _, err := host.Run("ip", "addr", "add", "192.0.2.10/32", "dev", "lo"); err != nil {
		t.Fatal(err)
	}
	dataDir, err := os.MkdirTemp("", "skk")
	if err != nil {
		t.Fatal(err)
	}
	d, err := skctrd.Start(ctx, skctrd.Options{DataDir: dataDir})
	if err != nil {
		os.RemoveAll(dataDir)
		t.Fatal(err)
	}
	e := &kubeletEnv{ctrd: d, host: host, prefix: tp.Prefix, dataDir: dataDir}
	t.Cleanup(func() {
		cctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if cs, err := d.Client().Containers(cctx); err == nil {
			for _, c := range cs {
				_ = removeContainer(cctx, c)
			}
		}
		_ = d.Stop(cctx)
		if nss, _ := podnet.ListNetNS(podnet.DefaultNetNSDir, tp.Prefix+"-pod-"); len(nss) > 0 {
			for _, p := range nss {
				_ = podnet.DeleteNetNS(p)
			}
		}
		if e.net != nil {
			e.net.Close()
		}
		agentclean.UnmountUnder(dataDir) // containerd's and the pods' (ns/ipc, ns/uts, shm)
		os.RemoveAll(dataDir)
	})
	f, err := os.Open(tar)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := skctrd.Import(ctx, d.Client(), "", f, ""); err != nil {
		t.Fatal(err)
	}
	e.cidr = netip.MustParsePrefix(fmt.Sprintf("10.77.%d.0/24", time.Now().UnixNano()%200+10))
	hostPath := filepath.Join(podnet.DefaultNetNSDir, host.Name)
	e.net, err = podnet.New(podnet.Config{DataDir: dataDir, PodCIDR: e.cidr, VethPrefix: tp.Prefix, HostNetNS: hostPath})
	if err != nil {
		t.Fatal(err)
	}
	e.cfg = Config{
		NodeName: "node-a", NodeIP: "192.0.2.10", Client: client,
		Containerd: d.Client(), RuntimeOpts: d.RuntimeOpts(), Net: e.net, DataDir: dataDir,
		NetNSPrefix: tp.Prefix + "-pod-", ClusterDNS: []string{"10.96.0.10"}, HostNetNS: hostPath,
	}
	return e
}

// startKubelet runs a kubelet until the returned stop function is called.
func startKubelet(t *testing.T, cfg Config) (stop func()) {
	t.Helper()
	k, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- k.Run(ctx) }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("kubelet Run: %v", err)
		}
	}
	t.Cleanup(stop)
	kubeletOf[cfg.NodeName] = k
	return stop
}

var kubeletOf = map[string]*Kubelet{}

// hostGET fetches http://addr/path from inside the host-playing namespace.
func hostGET(ns *nstest.NS, addr, path string) (int, string, error) {
	var conn net.Conn
	err := ns.Do(func() error {
		c, err := net.DialTimeout("tcp", addr, 2*time.Second)
		conn = c
		return err
	})
	if err != nil {
		return 0, "", err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(3 * time.Second))
	fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", path, addr)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), err
}

func waitPod(t *testing.T, client *fake.Clientset, name string, what string, timeout time.Duration, cond func(*v1.Pod) bool) *v1.Pod {
	t.Helper()
	var last *v1.Pod
	ok := waitFor(context.Background(), timeout, 100*time.Millisecond, func() bool {
		p, err := client.CoreV1().Pods("default").Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return false
		}
		last = p
		return cond(p)
	})
	if !ok {
		t.Fatalf("pod %s never became %s; last status: %+v", name, what, last.Status)
	}
	return last
}

func podReady(p *v1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == v1.PodReady {
			return c.Status == v1.ConditionTrue
		}
	}
	return false
}

func testPod(name, uid string) *v1.Pod {
	grace := int64(3)
	return &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", UID: types.UID(uid)},
		Spec: v1.PodSpec{
			NodeName:                      "node-a",
			RestartPolicy:                 v1.RestartPolicyAlways,
			TerminationGracePeriodSeconds: &grace,
			Containers: []v1.Container{{
				Name: "app", Image: "skiff/testapp:v1", ImagePullPolicy: v1.PullNever,
				Ports: []v1.ContainerPort{{Name: "http", ContainerPort: 8080}},
			}},
		},
	}
}

func TestPrivilegedKubeletPodLifecycle(t *testing.T) {
	nstest.RequirePrivileged(t)
	ctx := context.Background()
	optional := true
	client := fake.NewSimpleClientset(
		&v1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-a"}, Spec: v1.NodeSpec{PodCIDR: "10.77.0.0/24"}},
		&v1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cfg", Namespace: "default"}, Data: map[string]string{"greeting": "hello", "app.conf": "x=1\n"}},
		&v1.Service{ObjectMeta: metav1.ObjectMeta{Name: "kubernetes", Namespace: "default"}, Spec: v1.ServiceSpec{ClusterIP: "10.96.0.1", Ports: []v1.ServicePort{{Name: "https", Port: 443}}}},
	)
	env := newKubeletEnv(t, client)

	pod := testPod("web-0", "11111111-2222-3333-4444-555555555555")
	outDir := t.TempDir()
	pod.Spec.Volumes = []v1.Volume{
		{Name: "work", VolumeSource: v1.VolumeSource{EmptyDir: &v1.EmptyDirVolumeSource{}}},
		{Name: "out", VolumeSource: v1.VolumeSource{HostPath: &v1.HostPathVolumeSource{Path: outDir}}},
		{Name: "conf", VolumeSource: v1.VolumeSource{ConfigMap: &v1.ConfigMapVolumeSource{LocalObjectReference: v1.LocalObjectReference{Name: "cfg"}}}},
	}
	pod.Spec.InitContainers = []v1.Container{{
		Name: "init", Image: "skiff/testapp:v1", ImagePullPolicy: v1.PullNever,
		Command:      []string{"/bin/sh", "-c", "echo init-ran > /work/init.txt"},
		VolumeMounts: []v1.VolumeMount{{Name: "work", MountPath: "/work"}},
	}}
	app := &pod.Spec.Containers[0]
	app.VolumeMounts = []v1.VolumeMount{{Name: "work", MountPath: "/work"}, {Name: "out", MountPath: "/out"}, {Name: "conf", MountPath: "/conf", ReadOnly: true}}
	app.StartupProbe = &v1.Probe{ProbeHandler: v1.ProbeHandler{Exec: &v1.ExecAction{Command: []string{"cat", "/work/init.txt"}}}, PeriodSeconds: 1}
	app.Lifecycle = &v1.Lifecycle{PreStop: &v1.LifecycleHandler{Exec: &v1.ExecAction{Command: []string{"/bin/sh", "-c", "echo stopping > /out/prestop"}}}}
	app.Env = []v1.EnvVar{
		{Name: "MY_POD", ValueFrom: &v1.EnvVarSource{FieldRef: &v1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
		{Name: "MY_IP", ValueFrom: &v1.EnvVarSource{FieldRef: &v1.ObjectFieldSelector{FieldPath: "status.podIP"}}},
		{Name: "GREETING", ValueFrom: &v1.EnvVarSource{ConfigMapKeyRef: &v1.ConfigMapKeySelector{LocalObjectReference: v1.LocalObjectReference{Name: "cfg"}, Key: "greeting"}}},
		{Name: "MISSING", ValueFrom: &v1.EnvVarSource{SecretKeyRef: &v1.SecretKeySelector{LocalObjectReference: v1.LocalObjectReference{Name: "nope"}, Key: "k", Optional: &optional}}},
	}
	app.ReadinessProbe = &v1.Probe{ProbeHandler: v1.ProbeHandler{HTTPGet: &v1.HTTPGetAction{Path: "/healthz", Port: intstr.FromString("http")}},
		PeriodSeconds: 1, FailureThreshold: 1}
	app.LivenessProbe = &v1.Probe{ProbeHandler: v1.ProbeHandler{HTTPGet: &v1.HTTPGetAction{Path: "/healthz", Port: intstr.FromInt32(8080)}},
		PeriodSeconds: 1, FailureThreshold: 4}
	if _, err := client.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// A second pod whose API object disappears while no kubelet runs: the
	// next kubelet must remove its container, netns and address.
	orphan := testPod("orphan", "99999999-2222-3333-4444-555555555555")
	if _, err := client.CoreV1().Pods("default").Create(ctx, orphan, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// A pod whose image is absent waits with ErrImageNeverPull.
	noimg := testPod("noimg", "77777777-2222-3333-4444-555555555555")
	noimg.Spec.Containers[0].Image = "skiff/absent:v9"
	if _, err := client.CoreV1().Pods("default").Create(ctx, noimg, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	// A crashing container goes into CrashLoopBackOff; a run-once pod succeeds.
	crash := testPod("crash", "55555555-2222-3333-4444-555555555555")
	crash.Spec.Containers[0].Command = []string{"/bin/sh", "-c", "echo bye; exit 3"}
	job := testPod("job", "66666666-2222-3333-4444-555555555555")
	job.Spec.RestartPolicy = v1.RestartPolicyNever
	job.Spec.Containers[0].Command = []string{"/bin/true"}
	for _, p := range []*v1.Pod{crash, job} {
		if _, err := client.CoreV1().Pods("default").Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}

	stop := startKubelet(t, env.cfg)
	got := waitPod(t, client, "web-0", "Running and Ready", 60*time.Second, func(p *v1.Pod) bool {
		return p.Status.Phase == v1.PodRunning && podReady(p)
	})
	ip, err := netip.ParseAddr(got.Status.PodIP)
	if err != nil || !env.cidr.Contains(ip) {
		t.Fatalf("pod IP %q not in %v", got.Status.PodIP, env.cidr)
	}
	if got.Status.HostIP != "192.0.2.10" || got.Status.StartTime == nil {
		t.Fatalf("hostIP/startTime: %+v", got.Status)
	}
	cs := got.Status.ContainerStatuses[0]
	if !cs.Ready || !strings.HasPrefix(cs.ContainerID, "containerd://") || !strings.Contains(cs.ImageID, "docker.io/skiff/testapp:v1@sha256:") {
		t.Fatalf("container status: %+v", cs)
	}
	if ics := got.Status.InitContainerStatuses[0]; ics.State.Terminated == nil || ics.State.Terminated.ExitCode != 0 {
		t.Fatalf("init container status: %+v", ics)
	}
	addr := net.JoinHostPort(ip.String(), "8080")
	if code, body, err := hostGET(env.host, addr, "/hostname"); err != nil || code != 200 || strings.TrimSpace(body) != "web-0" {
		t.Fatalf("GET /hostname: %d %q %v", code, body, err)
	}

	// Env, volumes, init output and DNS files as the container sees them.
	k := kubeletOf["node-a"]
	w := k.worker("default", "web-0")
	w.mu.Lock()
	inst := w.ctrs[0].inst
	w.mu.Unlock()
	code, out, err := execIn(ctx, inst, []string{"/bin/sh", "-c",
		`echo "pod=$MY_POD ip=$MY_IP greeting=$GREETING missing=${MISSING-unset} svc=$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT"; cat /work/init.txt /conf/app.conf /etc/resolv.conf; grep web-0 /etc/hosts`})
	if err != nil || code != 0 {
		t.Fatalf("exec: %d %v %s", code, err, out)
	}
	for _, want := range []string{"pod=web-0 ip=" + ip.String() + " greeting=hello missing=unset svc=10.96.0.1:443", "init-ran", "x=1",
		"nameserver 10.96.0.10", "search default.svc.cluster.local svc.cluster.local cluster.local", "options ndots:5", ip.String() + "\tweb-0"} {
		if !strings.Contains(out, want) {
			t.Errorf("container view lacks %q:\n%s", want, out)
		}
	}

	// The absent image is reported, not retried into a crash loop.
	waitPod(t, client, "noimg", "ErrImageNeverPull", 20*time.Second, func(p *v1.Pod) bool {
		return len(p.Status.ContainerStatuses) == 1 && p.Status.ContainerStatuses[0].State.Waiting != nil &&
			p.Status.ContainerStatuses[0].State.Waiting.Reason == "ErrImageNeverPull" &&
			strings.Contains(p.Status.ContainerStatuses[0].State.Waiting.Message, "skiff image import")
	})
	waitPod(t, client, "crash", "CrashLoopBackOff", 20*time.Second, func(p *v1.Pod) bool {
		if len(p.Status.ContainerStatuses) != 1 {
			return false
		}
		cs := p.Status.ContainerStatuses[0]
		return cs.State.Waiting != nil && cs.State.Waiting.Reason == "CrashLoopBackOff" && cs.RestartCount >= 1 &&
			cs.LastTerminationState.Terminated != nil && cs.LastTerminationState.Terminated.ExitCode == 3 && p.Status.Phase == v1.PodRunning
	})
	waitPod(t, client, "job", "Succeeded", 20*time.Second, func(p *v1.Pod) bool {
		return p.Status.Phase == v1.PodSucceeded && len(p.Status.ContainerStatuses) == 1 &&
			p.Status.ContainerStatuses[0].State.Terminated != nil && p.Status.ContainerStatuses[0].State.Terminated.Reason == "Completed"
	})
	waitPod(t, client, "orphan", "Running", 30*time.Second, func(p *v1.Pod) bool { return p.Status.Phase == v1.PodRunning })

	// Agent restart: the pod is adopted without a restart; the orphan is removed.
	firstID := cs.ContainerID
	stop()
	if err := client.CoreV1().Pods("default").Delete(ctx, "orphan", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	startKubelet(t, env.cfg)
	orphanNS := filepath.Join(podnet.DefaultNetNSDir, env.cfg.NetNSPrefix+string(orphan.UID))
	if !waitFor(ctx, 20*time.Second, 100*time.Millisecond, func() bool {
		_, err := os.Stat(orphanNS)
		_, had := env.net.IPAM().Lookup(string(orphan.UID))
		return os.IsNotExist(err) && !had
	}) {
		t.Fatalf("orphan pod's netns or address left after reconcile")
	}
	if cs, _ := env.ctrd.Client().Containers(ctx, fmt.Sprintf("labels.%q==%s", labelPodUID, orphan.UID)); len(cs) != 0 {
		t.Fatalf("orphan pod's containers left: %d", len(cs))
	}
	time.Sleep(1500 * time.Millisecond)
	got = waitPod(t, client, "web-0", "Ready after adoption", 20*time.Second, podReady)
	if id := got.Status.ContainerStatuses[0].ContainerID; id != firstID || got.Status.ContainerStatuses[0].RestartCount != 0 {
		t.Fatalf("after agent restart container is %s (restarts %d), want adopted %s", id, got.Status.ContainerStatuses[0].RestartCount, firstID)
	}

	// Readiness failure flips Ready; liveness then restarts the container.
	if code, _, err := hostGET(env.host, addr, "/healthz/fail"); err != nil || code != 200 {
		t.Fatalf("GET /healthz/fail: %d %v", code, err)
	}
	waitPod(t, client, "web-0", "not Ready", 10*time.Second, func(p *v1.Pod) bool { return !podReady(p) })
	got = waitPod(t, client, "web-0", "restarted and Ready", 40*time.Second, func(p *v1.Pod) bool {
		return p.Status.ContainerStatuses[0].RestartCount == 1 && podReady(p)
	})
	last := got.Status.ContainerStatuses[0].LastTerminationState.Terminated
	if last == nil || !strings.Contains(last.Message, "liveness") {
		t.Fatalf("lastState after liveness restart: %+v", got.Status.ContainerStatuses[0].LastTerminationState)
	}
	// What kubectl describe pod shows of all this.
	waitEvent(t, client, "web-0", "spec.containers{app}", "Created", "Created container: app", 2)
	waitEvent(t, client, "web-0", "spec.containers{app}", "Started", "Started container app", 2)
	waitEvent(t, client, "web-0", "spec.initContainers{init}", "Started", "Started container init", 1)
	waitEvent(t, client, "web-0", "spec.containers{app}", "Unhealthy", "Readiness probe failed: ", 1)
	waitEvent(t, client, "web-0", "spec.containers{app}", "Unhealthy", "Liveness probe failed: ", 4)
	waitEvent(t, client, "web-0", "spec.containers{app}", "Killing", "Container app failed liveness probe, will be restarted", 1)
	waitEvent(t, client, "crash", "spec.containers{app}", "BackOff", "Back-off restarting failed container app in pod crash_default", 1)
	k = kubeletOf["node-a"]
	rc, err := k.Logs(ctx, "default", "web-0", "app", LogOptions{Previous: true})
	if err != nil {
		t.Fatal(err)
	}
	prevLog, _ := io.ReadAll(rc)
	rc.Close()
	if !strings.Contains(string(prevLog), "testapp v1") || !strings.Contains(string(prevLog), "got terminated") {
		t.Fatalf("previous log: %q", prevLog)
	}
	rc, err = k.Logs(ctx, "default", "web-0", "app", LogOptions{TailLines: 1})
	if err != nil {
		t.Fatal(err)
	}
	curLog, _ := io.ReadAll(rc)
	rc.Close()
	if strings.Count(string(curLog), "\n") != 1 {
		t.Fatalf("current log tail 1: %q", curLog)
	}
	rc, err = k.Logs(ctx, "default", "web-0", "app", LogOptions{})
	if err != nil {
		t.Fatal(err)
	}
	curLog, _ = io.ReadAll(rc)
	rc.Close()
	if !strings.Contains(string(curLog), "testapp v1") || strings.Contains(string(curLog), "got terminated") {
		t.Fatalf("current log: %q", curLog)
	}

	// Graceful deletion: the kubelet stops the pod and completes the delete.
	got, _ = client.CoreV1().Pods("default").Get(ctx, "web-0", metav1.GetOptions{})
	now := metav1.Now()
	grace := int64(3)
	got.DeletionTimestamp, got.DeletionGracePeriodSeconds = &now, &grace
	if _, err := client.CoreV1().Pods("default").Update(ctx, got, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if !waitFor(ctx, 30*time.Second, 100*time.Millisecond, func() bool {
		_, err := client.CoreV1().Pods("default").Get(ctx, "web-0", metav1.GetOptions{})
		return apierrors.IsNotFound(err)
	}) {
		t.Fatal("pod web-0 was not deleted by the kubelet")
	}
	if cs, _ := env.ctrd.Client().Containers(ctx, fmt.Sprintf("labels.%q==%s", labelPodUID, pod.UID)); len(cs) != 0 {
		t.Fatalf("containers of deleted pod left: %d", len(cs))
	}
	if _, err := os.Stat(filepath.Join(podnet.DefaultNetNSDir, env.cfg.NetNSPrefix+string(pod.UID))); !os.IsNotExist(err) {
		t.Fatalf("netns of deleted pod left: %v", err)
	}
	if _, had := env.net.IPAM().Lookup(string(pod.UID)); had {
		t.Fatal("address of deleted pod still allocated")
	}
	if b, err := os.ReadFile(filepath.Join(outDir, "prestop")); err != nil || string(b) != "stopping\n" {
		t.Fatalf("preStop hook did not run: %q %v", b, err)
	}
	waitEvent(t, client, "web-0", "spec.containers{app}", "Killing", "Stopping container app", 1)
	veth := podnet.HostVethName(env.prefix, string(pod.UID))
	if _, err := env.host.Run("ip", "link", "show", veth); err == nil {
		t.Fatalf("veth %s of deleted pod left", veth)
	}
}

// waitEvent waits for an Event about pod's fieldPath with reason whose
// message starts with msg, counted at least count times (a repeat raises
// the count of one Event).
func waitEvent(t *testing.T, client *fake.Clientset, pod, fieldPath, reason, msg string, count int32) {
	t.Helper()
	var seen []string
	if !waitFor(context.Background(), 20*time.Second, 100*time.Millisecond, func() bool {
		evs, _ := client.CoreV1().Events("default").List(context.Background(), metav1.ListOptions{})
		seen = seen[:0]
		var n int32
		for _, e := range evs.Items {
			if e.InvolvedObject.Name != pod {
				continue
			}
			seen = append(seen, fmt.Sprintf("%s %s %q x%d", e.InvolvedObject.FieldPath, e.Reason, e.Message, e.Count))
			if e.InvolvedObject.FieldPath == fieldPath && e.Reason == reason && strings.HasPrefix(e.Message, msg) && e.Source.Component == "kubelet" {
				n += e.Count
			}
		}
		return n >= count
	}) {
		t.Fatalf("no %s event %q (x%d) for %s %s; events:\n%s", reason, msg, count, pod, fieldPath, strings.Join(seen, "\n"))
	}
}
