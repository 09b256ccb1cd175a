package kubelet

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

// tokenServer answers TokenRequests on a fake clientset with tok-1, tok-2,
// ... expiring after the requested lifetime on the test clock.
type tokenServer struct {
	mu    sync.Mutex
	now   time.Time
	nowFn func() time.Time // if set, the clock instead of now
	reqs  []authenticationv1.TokenRequest
	sas   []string
	fail  error
}

func (s *tokenServer) clock() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.clockLocked()
}

func (s *tokenServer) clockLocked() time.Time {
	if s.nowFn != nil {
		return s.nowFn()
	}
	return s.now
}

func (s *tokenServer) advance(d time.Duration) {
	s.mu.Lock()
	s.now = s.now.Add(d)
	s.mu.Unlock()
}

func (s *tokenServer) requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.reqs)
}

func newTokenServer(client *fake.Clientset) *tokenServer {
	s := &tokenServer{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	client.PrependReactor("create", "serviceaccounts", func(a k8stesting.Action) (bool, runtime.Object, error) {
		ca, ok := a.(k8stesting.CreateActionImpl)
		if !ok || ca.GetSubresource() != "token" {
			return false, nil, nil
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.fail != nil {
			return true, nil, s.fail
		}
		tr := ca.GetObject().(*authenticationv1.TokenRequest).DeepCopy()
		s.reqs = append(s.reqs, *tr)
		s.sas = append(s.sas, ca.Name)
		tr.Status = authenticationv1.TokenRequestStatus{
			Token:               fmt.Sprintf("tok-%d", len(s.reqs)),
			ExpirationTimestamp: metav1.NewTime(s.clockLocked().Add(time.Duration(*tr.Spec.ExpirationSeconds) * time.Second)),
		}
		return true, tr, nil
	})
	return s
}

func TestTokenManagerForgetsPods(t *testing.T) {
	client := fake.NewSimpleClientset()
	ts := newTokenServer(client)
	m := newTokenManager(client, ts.clock, nil)
	src := &v1.ServiceAccountTokenProjection{Path: "token"}
	a, b := saPod(), saPod()
	b.Name, b.UID = "other", "uid-other"
	ctx := context.Background()
	ta, _ := m.token(ctx, a, src)
	tb, _ := m.token(ctx, b, src)
	again, _ := m.token(ctx, a, src)
	if ta != "tok-1" || tb != "tok-2" || again != "tok-1" || ts.requests() != 2 {
		t.Fatalf("tokens %q %q %q after %d requests: want one cached token per pod", ta, tb, again, ts.requests())
	}
	m.forget(a.UID)
	if cachedTokens(m, a.UID) != 0 || cachedTokens(m, b.UID) != 1 {
		t.Fatalf("after forgetting pod a: %d tokens of a and %d of b cached, want 0 and 1", cachedTokens(m, a.UID), cachedTokens(m, b.UID))
	}
	if got, _ := m.token(ctx, a, src); got != "tok-3" {
		t.Fatalf("token after forget %q, want a new one", got)
	}
}

// cachedTokens counts the tokens m holds for pod uid.
func cachedTokens(m *tokenManager, uid types.UID) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for key := range m.cache {
		if key.pod == uid {
			n++
		}
	}
	return n
}
