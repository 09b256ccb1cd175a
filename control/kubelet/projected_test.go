package kubelet

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
)

// testTokenKubelet is a Kubelet with just what volume code needs.
func testTokenKubelet(t *testing.T, client *fake.Clientset, ts *tokenServer) *Kubelet {
	return &Kubelet{
		cfg:     Config{NodeName: "node-a", NodeIP: "192.0.2.10", Client: client, DataDir: t.TempDir(), HostResolvConf: "/nonexistent"},
		log:     slog.Default(),
		workers: map[types.UID]*podWorker{},
		tokens:  newTokenManager(client, ts.clock, nil), projectedEvery: time.Minute,
	}
}

func int32p(v int32) *int32 { return &v }
func int64p(v int64) *int64 { return &v }

// kubeAPIAccess is the volume Kubernetes' service-account admission adds.
func kubeAPIAccess(name string) v1.Volume {
	return v1.Volume{Name: name, VolumeSource: v1.VolumeSource{Projected: &v1.ProjectedVolumeSource{
		DefaultMode: int32p(0o644),
		Sources: []v1.VolumeProjection{
			{ServiceAccountToken: &v1.ServiceAccountTokenProjection{ExpirationSeconds: int64p(3607), Path: "token"}},
			{ConfigMap: &v1.ConfigMapProjection{LocalObjectReference: v1.LocalObjectReference{Name: "kube-root-ca.crt"},
				Items: []v1.KeyToPath{{Key: "ca.crt", Path: "ca.crt"}}}},
			{DownwardAPI: &v1.DownwardAPIProjection{Items: []v1.DownwardAPIVolumeFile{
				{Path: "namespace", FieldRef: &v1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.namespace"}}}}},
		},
	}}}
}

func saPod(vols ...v1.Volume) *v1.Pod {
	return &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "apps", UID: "uid-web", Labels: map[string]string{"app": "web", "tier": "front"}},
		Spec: v1.PodSpec{NodeName: "node-a", ServiceAccountName: "builder", Volumes: vols, HostNetwork: true, HostIPC: true,
			Containers: []v1.Container{{Name: "app", Image: "x"}}},
	}
}

func readVol(t *testing.T, dir, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatalf("read %s: %v", name, err)
	}
	return string(b)
}

func perm(t *testing.T, p string) os.FileMode {
	t.Helper()
	st, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return st.Mode().Perm()
}

func TestProjectedKubeAPIAccess(t *testing.T) {
	client := fake.NewSimpleClientset(&v1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "kube-root-ca.crt", Namespace: "apps"},
		Data: map[string]string{"ca.crt": "-----BEGIN CERTIFICATE-----\nCA\n"}})
	ts := newTokenServer(client)
	k := testTokenKubelet(t, client, ts)
	info := v1.Volume{Name: "info", VolumeSource: v1.VolumeSource{Projected: &v1.ProjectedVolumeSource{Sources: []v1.VolumeProjection{
		{ServiceAccountToken: &v1.ServiceAccountTokenProjection{Audience: "vault", Path: "auth/vault-token"}},
		{DownwardAPI: &v1.DownwardAPIProjection{Items: []v1.DownwardAPIVolumeFile{
			{Path: "labels", FieldRef: &v1.ObjectFieldSelector{FieldPath: "metadata.labels"}},
			{Path: "ip", FieldRef: &v1.ObjectFieldSelector{FieldPath: "status.podIP"}, Mode: int32p(0o400)},
			{Path: "node", FieldRef: &v1.ObjectFieldSelector{FieldPath: "spec.nodeName"}},
			{Path: "sa", FieldRef: &v1.ObjectFieldSelector{FieldPath: "spec.serviceAccountName"}},
			{Path: "uid", FieldRef: &v1.ObjectFieldSelector{FieldPath: "metadata.uid"}},
		}}},
	}}}}
	w := newPodWorker(k, saPod(kubeAPIAccess("kube-api-access-x7k2p"), info))
	w.podIP = "10.77.0.5"
	w.mu.Lock()
	err := w.writeEtcAndVolumes(context.Background())
	w.mu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	dir := w.volumes["kube-api-access-x7k2p"]
	if got := readVol(t, dir, "token"); got != "tok-1" {
		t.Fatalf("token file %q, want the token the API returned", got)
	}
	if got := readVol(t, dir, "ca.crt"); got != "-----BEGIN CERTIFICATE-----\nCA\n" {
		t.Fatalf("ca.crt %q", got)
	}
	if got := readVol(t, dir, "namespace"); got != "apps" {
		t.Fatalf("namespace %q", got)
	}
	for _, f := range []string{"token", "ca.crt", "namespace"} {
		if m := perm(t, filepath.Join(dir, f)); m != 0o644 {
			t.Errorf("%s mode %v, want 0644 (readable by non-root users)", f, m)
		}
	}
	if target, err := os.Readlink(filepath.Join(dir, "token")); err != nil || target != "..data/token" {
		t.Errorf("token is not a symlink through ..data: %q %v", target, err)
	}
	if ts.requests() != 2 {
		t.Fatalf("%d token requests, want 2", ts.requests())
	}
	for i, want := range []struct {
		aud []string
		exp int64
	}{{nil, 3607}, {[]string{"vault"}, 3600}} {
		r := ts.reqs[i].Spec
		ref := r.BoundObjectRef
		if ts.sas[i] != "builder" || ref == nil || ref.Kind != "Pod" || ref.APIVersion != "v1" || ref.Name != "web" || ref.UID != "uid-web" {
			t.Errorf("request %d: sa %q boundObjectRef %+v", i, ts.sas[i], ref)
		}
		if *r.ExpirationSeconds != want.exp || fmt.Sprint(r.Audiences) != fmt.Sprint(want.aud) {
			t.Errorf("request %d: expirationSeconds %d audiences %v, want %d %v", i, *r.ExpirationSeconds, r.Audiences, want.exp, want.aud)
		}
	}
	info2 := w.volumes["info"]
	for name, want := range map[string]string{"auth/vault-token": "tok-2", "labels": "app=\"web\"\ntier=\"front\"",
		"ip": "10.77.0.5", "node": "node-a", "sa": "builder", "uid": "uid-web"} {
		if got := readVol(t, info2, name); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	if m := perm(t, filepath.Join(info2, "ip")); m != 0o400 {
		t.Errorf("item mode %v, want 0400", m)
	}
	if m := perm(t, filepath.Join(info2, "node")); m != 0o644 {
		t.Errorf("default mode %v, want 0644", m)
	}
}

func TestProjectedPathEscapeRejected(t *testing.T) {
	for _, bad := range []string{"../escape", "a/../../escape", "/etc/passwd", "..data/token", "..", ""} {
		client := fake.NewSimpleClientset(&v1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cm", Namespace: "apps"}, Data: map[string]string{"k": "v"}})
		dir := filepath.Join(t.TempDir(), "pod")
		vol := v1.Volume{Name: "evil", VolumeSource: v1.VolumeSource{Projected: &v1.ProjectedVolumeSource{Sources: []v1.VolumeProjection{
			{ConfigMap: &v1.ConfigMapProjection{LocalObjectReference: v1.LocalObjectReference{Name: "cm"}, Items: []v1.KeyToPath{{Key: "k", Path: bad}}}},
		}}}}
		_, err := prepareVolumes(context.Background(), client, saPod(vol), dir)
		var ve *volumeError
		if err == nil || !errors.As(err, &ve) || !strings.Contains(err.Error(), `MountVolume.SetUp failed for volume "evil"`) ||
			!strings.Contains(err.Error(), "invalid item path") {
			t.Errorf("path %q: error %v, want an invalid item path mount error", bad, err)
		}
		if _, err := os.Stat(filepath.Join(dir, "volumes", "escape")); !os.IsNotExist(err) {
			t.Errorf("path %q: a file was written outside the volume", bad)
		}
	}
	// Two sources projecting to one path conflict.
	client := fake.NewSimpleClientset()
	vol := v1.Volume{Name: "dup", VolumeSource: v1.VolumeSource{Projected: &v1.ProjectedVolumeSource{Sources: []v1.VolumeProjection{
		{DownwardAPI: &v1.DownwardAPIProjection{Items: []v1.DownwardAPIVolumeFile{{Path: "x", FieldRef: &v1.ObjectFieldSelector{FieldPath: "metadata.name"}}}}},
		{DownwardAPI: &v1.DownwardAPIProjection{Items: []v1.DownwardAPIVolumeFile{{Path: "./x", FieldRef: &v1.ObjectFieldSelector{FieldPath: "metadata.uid"}}}}},
	}}}}
	if _, err := prepareVolumes(context.Background(), client, saPod(vol), t.TempDir()); err == nil || !strings.Contains(err.Error(), "conflicting duplicate paths") {
		t.Fatalf("duplicate paths: %v", err)
	}
	// A token lifetime under ten minutes is refused before any request.
	ts := newTokenServer(client)
	vol = v1.Volume{Name: "short", VolumeSource: v1.VolumeSource{Projected: &v1.ProjectedVolumeSource{Sources: []v1.VolumeProjection{
		{ServiceAccountToken: &v1.ServiceAccountTokenProjection{Path: "token", ExpirationSeconds: int64p(599)}}}}}}
	if _, err := prepareVolumes(context.Background(), client, saPod(vol), t.TempDir()); err == nil || !strings.Contains(err.Error(), "at least 600") || ts.requests() != 0 {
		t.Fatalf("expirationSeconds 599: %v (requests %d)", err, ts.requests())
	}
}

func TestProjectedOptionalAndRequiredSources(t *testing.T) {
	client := fake.NewSimpleClientset(&v1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "sec", Namespace: "apps"}, Data: map[string][]byte{"pw": []byte("hunter2")}})
	yes := true
	vol := v1.Volume{Name: "mix", VolumeSource: v1.VolumeSource{Projected: &v1.ProjectedVolumeSource{DefaultMode: int32p(0o440), Sources: []v1.VolumeProjection{
		{ConfigMap: &v1.ConfigMapProjection{LocalObjectReference: v1.LocalObjectReference{Name: "absent"}, Optional: &yes}},
		{Secret: &v1.SecretProjection{LocalObjectReference: v1.LocalObjectReference{Name: "sec"}, Optional: &yes,
			Items: []v1.KeyToPath{{Key: "pw", Path: "creds/pw"}, {Key: "nokey", Path: "nokey"}}}},
	}}}}
	vols, err := prepareVolumes(context.Background(), client, saPod(vol), t.TempDir())
	if err != nil {
		t.Fatalf("optional sources: %v", err)
	}
	if got := readVol(t, vols["mix"], "creds/pw"); got != "hunter2" {
		t.Fatalf("secret item %q", got)
	}
	if m := perm(t, filepath.Join(vols["mix"], "creds/pw")); m != 0o440 {
		t.Fatalf("defaultMode: %v", m)
	}
	if _, err := os.Lstat(filepath.Join(vols["mix"], "nokey")); !os.IsNotExist(err) {
		t.Fatal("missing optional key written")
	}
	vol.Projected.Sources[0].ConfigMap.Optional = nil
	if _, err := prepareVolumes(context.Background(), client, saPod(vol), t.TempDir()); err == nil ||
		!strings.Contains(err.Error(), `MountVolume.SetUp failed for volume "mix" : configmap "absent"`) || !apierrors.IsNotFound(errors.Unwrap(errors.Unwrap(err))) {
		t.Fatalf("required configmap missing: %v", err)
	}
	vol.Projected.Sources = vol.Projected.Sources[1:]
	vol.Projected.Sources[0].Secret.Optional = nil
	if _, err := prepareVolumes(context.Background(), client, saPod(vol), t.TempDir()); err == nil || !strings.Contains(err.Error(), `has no key "nokey"`) {
		t.Fatalf("required key missing: %v", err)
	}
}

func TestProjectedTokenRefreshAfter80Percent(t *testing.T) {
	client := fake.NewSimpleClientset(&v1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "kube-root-ca.crt", Namespace: "apps"}, Data: map[string]string{"ca.crt": "CA1"}})
	ts := newTokenServer(client)
	k := testTokenKubelet(t, client, ts)
	vol := kubeAPIAccess("kube-api-access-abcde")
	vol.Projected.Sources[0].ServiceAccountToken.ExpirationSeconds = int64p(1000)
	w := newPodWorker(k, saPod(vol))
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.writeEtcAndVolumes(context.Background()); err != nil {
		t.Fatal(err)
	}
	dir := w.volumes[vol.Name]
	check := func(wantTok string, wantReqs int) {
		t.Helper()
		if got := readVol(t, dir, "token"); got != wantTok || ts.requests() != wantReqs {
			t.Fatalf("token %q after %d requests, want %q after %d", got, ts.requests(), wantTok, wantReqs)
		}
	}
	check("tok-1", 1)
	ts.advance(790 * time.Second) // 79%: still fresh
	w.refreshProjectedLocked(context.Background())
	check("tok-1", 1)
	// ConfigMap changes follow on the next refresh, together with the token.
	cm, _ := client.CoreV1().ConfigMaps("apps").Get(context.Background(), "kube-root-ca.crt", metav1.GetOptions{})
	cm.Data["ca.crt"] = "CA2"
	if _, err := client.CoreV1().ConfigMaps("apps").Update(context.Background(), cm, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	ts.advance(20 * time.Second) // 81%, but within a minute of the last write
	w.refreshProjectedLocked(context.Background())
	check("tok-1", 1)
	ts.advance(45 * time.Second)
	w.refreshProjectedLocked(context.Background())
	check("tok-2", 2)
	if got := readVol(t, dir, "ca.crt"); got != "CA2" {
		t.Fatalf("ca.crt after refresh %q", got)
	}
	entries, _ := os.ReadDir(dir)
	hidden := 0
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "..") && e.Name() != dataLink {
			hidden++
		}
	}
	if hidden != 1 {
		t.Fatalf("%d data directories left, want only the current one", hidden)
	}
	// A failed refresh keeps the still-valid token.
	ts.mu.Lock()
	ts.fail = apierrors.NewForbidden(schema.GroupResource{Resource: "serviceaccounts"}, "builder", errors.New("no"))
	ts.mu.Unlock()
	ts.advance(900 * time.Second)
	w.refreshProjectedLocked(context.Background())
	check("tok-2", 2)
}

func TestProjectedTokenFailureIsFailedMount(t *testing.T) {
	client := fake.NewSimpleClientset()
	ts := newTokenServer(client)
	ts.fail = apierrors.NewForbidden(schema.GroupResource{Resource: "serviceaccounts/token"}, "builder", errors.New("node may only request tokens for its own pods"))
	k := testTokenKubelet(t, client, ts)
	w := newPodWorker(k, saPod(kubeAPIAccess("kube-api-access-zz")))
	w.step(context.Background())
	w.mu.Lock()
	sandbox, msg := w.sandbox, w.sandboxErr
	st := w.statusLocked()
	w.mu.Unlock()
	want := `MountVolume.SetUp failed for volume "kube-api-access-zz" : failed to fetch token: `
	if sandbox || !strings.HasPrefix(msg, want) || !strings.Contains(st.Message, want) {
		t.Fatalf("sandbox %v, error %q, status %q", sandbox, msg, st.Message)
	}
	ok := waitFor(context.Background(), 5*time.Second, 10*time.Millisecond, func() bool {
		evs, _ := client.CoreV1().Events("apps").List(context.Background(), metav1.ListOptions{})
		for _, e := range evs.Items {
			if e.Reason == "FailedMount" && e.Type == v1.EventTypeWarning && strings.HasPrefix(e.Message, want) && e.InvolvedObject.Name == "web" {
				return true
			}
		}
		return false
	})
	if !ok {
		t.Fatal("no FailedMount event")
	}
}

func TestProjectedTokenOwnedByPodUser(t *testing.T) {
	u1, u2 := int64(1000), int64(2000)
	sc := func(u *int64) *v1.SecurityContext { return &v1.SecurityContext{RunAsUser: u} }
	pod := saPod(kubeAPIAccess("kube-api-access-u"))
	pod.Spec.Containers = []v1.Container{{Name: "a", SecurityContext: sc(&u1)}, {Name: "b"}}
	if u := podRunAsUser(pod); u != nil {
		t.Fatalf("one container without runAsUser: got user %d", *u)
	}
	pod.Spec.SecurityContext = &v1.PodSecurityContext{RunAsUser: &u1}
	if u := podRunAsUser(pod); u == nil || *u != 1000 {
		t.Fatalf("pod-level user 1000 shared by all: got %v", u)
	}
	pod.Spec.InitContainers = []v1.Container{{Name: "init", SecurityContext: sc(&u2)}}
	if u := podRunAsUser(pod); u != nil {
		t.Fatalf("init container as another user: got %d", *u)
	}
	pod.Spec.InitContainers = nil

	client := fake.NewSimpleClientset(&v1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "kube-root-ca.crt", Namespace: "apps"}, Data: map[string]string{"ca.crt": "CA"}})
	ts := newTokenServer(client)
	files, err := projectedFiles(context.Background(), client, newTokenManager(client, ts.clock, nil), pod, pod.Spec.Volumes[0].Projected)
	if err != nil {
		t.Fatal(err)
	}
	tok, ca := files["token"], files["ca.crt"]
	if string(tok.data) != "tok-1" || tok.mode != 0o600 || tok.owner == nil || *tok.owner != 1000 {
		t.Fatalf("token file %q mode %v owner %v, want tok-1 0600 owned by 1000", tok.data, tok.mode, tok.owner)
	}
	if ca.mode != 0o644 || ca.owner != nil {
		t.Fatalf("ca.crt mode %v owner %v, want 0644 root's", ca.mode, ca.owner)
	}
}

// A downwardAPI volume follows label changes of the running pod.
func TestDownwardAPIVolumeFollowsLabels(t *testing.T) {
	client := fake.NewSimpleClientset()
	ts := newTokenServer(client)
	k := testTokenKubelet(t, client, ts)
	vol := v1.Volume{Name: "podinfo", VolumeSource: v1.VolumeSource{DownwardAPI: &v1.DownwardAPIVolumeSource{DefaultMode: int32p(0o444),
		Items: []v1.DownwardAPIVolumeFile{
			{Path: "labels", FieldRef: &v1.ObjectFieldSelector{FieldPath: "metadata.labels"}},
			{Path: "cpu_limit", ResourceFieldRef: &v1.ResourceFieldSelector{ContainerName: "app", Resource: "limits.cpu", Divisor: resource.MustParse("1m")}},
		}}}}
	pod := saPod(vol)
	pod.Spec.Containers[0].Resources.Limits = v1.ResourceList{v1.ResourceCPU: resource.MustParse("250m")}
	w := newPodWorker(k, pod)
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.writeEtcAndVolumes(context.Background()); err != nil {
		t.Fatal(err)
	}
	dir := w.volumes["podinfo"]
	if got := readVol(t, dir, "labels"); got != "app=\"web\"\ntier=\"front\"" {
		t.Fatalf("labels %q", got)
	}
	if got := readVol(t, dir, "cpu_limit"); got != "250" {
		t.Fatalf("cpu_limit %q, want 250 (millicores)", got)
	}
	if m := perm(t, filepath.Join(dir, "labels")); m != 0o444 {
		t.Fatalf("mode %v", m)
	}
	w.pod.Labels["tier"] = "back"
	ts.advance(61 * time.Second)
	w.refreshProjectedLocked(context.Background())
	if got := readVol(t, dir, "labels"); got != "app=\"web\"\ntier=\"back\"" {
		t.Fatalf("labels after update %q", got)
	}
}
