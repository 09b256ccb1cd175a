package kubelet

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
)

// Service-account token lifetimes, as Kubernetes validates them.
const (
	defaultTokenExpiry = 3600 * time.Second
	minTokenExpiry     = 600 * time.Second
	maxTokenExpiry     = (1 << 32) * time.Second
	// maxTokenAge forces a refresh of tokens the server made to live very
	// long (for example extended kube-api-access tokens) once a day.
	maxTokenAge = 24 * time.Hour
)

// tokenManager gets bound service-account tokens for pods through the
// TokenRequest API and caches them until 80% of their lifetime has passed.
// The node's credentials may only ask for tokens bound to pods on the node,
// so every request names the pod as its bound object.
type tokenManager struct {
	client kubernetes.Interface
	now    func() time.Time
	log    *slog.Logger

	mu    sync.Mutex
	cache map[tokenKey]*cachedToken
}

type tokenKey struct {
	namespace, serviceAccount, audience string
	expiry                              time.Duration
	pod                                 types.UID
}

type cachedToken struct {
	token     string
	expires   time.Time
	refreshAt time.Time
}

// newTokenManager returns a manager using now as its clock (nil: the wall
// clock) and log for refresh failures (nil: slog.Default()).
func newTokenManager(client kubernetes.Interface, now func() time.Time, log *slog.Logger) *tokenManager {
	if now == nil {
		now = time.Now
	}
	if log == nil {
		log = slog.Default()
	}
	return &tokenManager{client: client, now: now, log: log, cache: map[tokenKey]*cachedToken{}}
}

// tokenExpiry is a projection's requested lifetime after defaulting and
// validation.
func tokenExpiry(src *v1.ServiceAccountTokenProjection) (time.Duration, error) {
	if src.ExpirationSeconds == nil {
		return defaultTokenExpiry, nil
	}
	d := time.Duration(*src.ExpirationSeconds) * time.Second
	if d < minTokenExpiry || d > maxTokenExpiry {
		return 0, fmt.Errorf("expirationSeconds %d is out of range: use at least %d (10 minutes) and at most %d",
			*src.ExpirationSeconds, int64(minTokenExpiry/time.Second), int64(maxTokenExpiry/time.Second))
	}
	return d, nil
}

// podServiceAccount is the service account a pod runs as.
func podServiceAccount(pod *v1.Pod) string {
	if pod.Spec.ServiceAccountName != "" {
		return pod.Spec.ServiceAccountName
	}
	if pod.Spec.DeprecatedServiceAccount != "" {
		return pod.Spec.DeprecatedServiceAccount
	}
	return "default"
}

// token returns a token for pod's service account as projected by src: the
// cached one while it is fresh, otherwise a new one from the API server.
// When a refresh fails but the cached token has not expired yet, the
// cached token is returned and the failure logged, as Kubernetes does.
func (m *tokenManager) token(ctx context.Context, pod *v1.Pod, src *v1.ServiceAccountTokenProjection) (string, error) {
	expiry, err := tokenExpiry(src)
	if err != nil {
		return "", err
	}
	key := tokenKey{namespace: pod.Namespace, serviceAccount: podServiceAccount(pod), audience: src.Audience, expiry: expiry, pod: pod.UID}
	now := m.now()
	m.mu.Lock()
	cached := m.cache[key]
	m.mu.Unlock()
	if cached != nil && now.Before(cached.refreshAt) {
		return cached.token, nil
	}
	fresh, err := m.request(ctx, pod, key)
	if err != nil {
		if cached != nil && now.Before(cached.expires) {
			m.log.Warn("refresh service-account token failed; the current token stays until it expires",
				"pod", pod.Namespace+"/"+pod.Name, "serviceAccount", key.serviceAccount, "expires", cached.expires, "err", err)
			return cached.token, nil
		}
		return "", err
	}
	m.mu.Lock()
	m.cache[key] = fresh
	m.mu.Unlock()
	return fresh.token, nil
}

// request asks the API server for a token bound to the pod.
func (m *tokenManager) request(ctx context.Context, pod *v1.Pod, key tokenKey) (*cachedToken, error) {
	seconds := int64(key.expiry / time.Second)
	req := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{
		ExpirationSeconds: &seconds,
		BoundObjectRef:    &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: pod.Name, UID: pod.UID},
	}}
	if key.audience != "" {
		req.Spec.Audiences = []string{key.audience}
	}
	start := m.now()
	tr, err := m.client.CoreV1().ServiceAccounts(pod.Namespace).CreateToken(ctx, key.serviceAccount, req, metav1.CreateOptions{})
	if err != nil {
		return nil, fmt.Errorf("failed to fetch token: %w", err)
	}
	if tr == nil || strings.TrimSpace(tr.Status.Token) == "" {
		return nil, errors.New("failed to fetch token: the API server returned an empty token")
	}
	expires := tr.Status.ExpirationTimestamp.Time
	if expires.IsZero() {
		expires = start.Add(key.expiry)
	}
	life := expires.Sub(start)
	if life <= 0 {
		return nil, fmt.Errorf("failed to fetch token: it expired at %s, before it arrived (check that the node's and the API server's clocks agree)", expires.UTC().Format(time.RFC3339))
	}
	refresh := life * 8 / 10
	if refresh > maxTokenAge {
		refresh = maxTokenAge
	}
	return &cachedToken{token: tr.Status.Token, expires: expires, refreshAt: start.Add(refresh)}, nil
}

// forget drops every cached token of the pod uid.
func (m *tokenManager) forget(uid types.UID) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for k := range m.cache {
		if k.pod == uid {
			delete(m.cache, k)
		}
	}
}
