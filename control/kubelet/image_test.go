package kubelet

import (
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
)

func TestPullPolicyDefaults(t *testing.T) {
	for image, want := range map[string]v1.PullPolicy{
		"nginx":                       v1.PullAlways,
		"nginx:latest":                v1.PullAlways,
		"docker.io/library/nginx":     v1.PullAlways,
		"127.0.0.1:5000/skiff/app":    v1.PullAlways,
		"localhost:5000/app:latest":   v1.PullAlways,
		"skiff/testapp:v1":            v1.PullIfNotPresent,
		"127.0.0.1:5000/skiff/app:v2": v1.PullIfNotPresent,
		"nginx@sha256:0000000000000000000000000000000000000000000000000000000000000000":        v1.PullIfNotPresent,
		"nginx:latest@sha256:0000000000000000000000000000000000000000000000000000000000000000": v1.PullIfNotPresent,
	} {
		if got := pullPolicy(&v1.Container{Image: image}); got != want {
			t.Errorf("default policy of %s = %s, want %s", image, got, want)
		}
	}
	// An explicit policy wins.
	if got := pullPolicy(&v1.Container{Image: "nginx", ImagePullPolicy: v1.PullNever}); got != v1.PullNever {
		t.Errorf("explicit Never became %s", got)
	}
}

func TestDecidePull(t *testing.T) {
	for _, tc := range []struct {
		policy  v1.PullPolicy
		present bool
		want    pullAction
	}{
		{v1.PullAlways, true, pullImage},
		{v1.PullAlways, false, pullImage},
		{v1.PullIfNotPresent, true, useLocal},
		{v1.PullIfNotPresent, false, pullImage},
		{v1.PullNever, true, useLocal},
		{v1.PullNever, false, neverPull},
	} {
		if got := decidePull(tc.policy, tc.present); got != tc.want {
			t.Errorf("decidePull(%s, present=%v) = %d, want %d", tc.policy, tc.present, got, tc.want)
		}
	}
}

func TestPullBackoffSequence(t *testing.T) {
	var d time.Duration
	var got []time.Duration
	for i := 0; i < 8; i++ {
		d = nextPullDelay(d)
		got = append(got, d)
	}
	want := []time.Duration{10, 20, 40, 80, 160, 300, 300, 300}
	for i := range want {
		if got[i] != want[i]*time.Second {
			t.Fatalf("back-off sequence %v, want %v s", got, want)
		}
	}
}
