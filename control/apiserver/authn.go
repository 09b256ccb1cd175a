package apiserver

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"

	"github.com/skiffnet/skiff/control/storage"
)

// userKey carries the identity of a bearer-token request in its context.
type userKey struct{}

// bearerToken returns the token of an "Authorization: Bearer" header.
func bearerToken(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(strings.TrimSpace(h), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	tok = strings.TrimSpace(tok)
	return tok, tok != ""
}

// errBadToken marks a token that does not authenticate (a 401), as
// opposed to a storage failure while checking it (a 500).
var errBadToken = errors.New("invalid bearer token")

// authenticateBearer returns the request with the identity of its bearer
// token in the context. Only service-account tokens are accepted.
func (s *Server) authenticateBearer(r *http.Request, tok string) (*http.Request, error) {
	if s.sa == nil {
		return nil, fmt.Errorf("%w: this server verifies no bearer tokens", errBadToken)
	}
	u, err := s.serviceAccountUser(r.Context(), tok, time.Now())
	if err != nil {
		return nil, err
	}
	return r.WithContext(context.WithValue(r.Context(), userKey{}, u)), nil
}

// serviceAccountUser verifies a service-account token and that the service
// account and the object it is bound to still exist with the uids in the
// token (a pod's token dies with the pod, 60 s after its deletion
// timestamp at the latest, as in Kubernetes).
func (s *Server) serviceAccountUser(ctx context.Context, tok string, now time.Time) (user, error) {
	c, err := s.sa.verify(tok, now)
	if err != nil {
		return user{}, fmt.Errorf("%w: %v", errBadToken, err)
	}
	k := c.Kubernetes
	check := func(resource, ns string, ref *objRef, mustNotBeDeleted bool) error {
		if ref == nil {
			return nil
		}
		o, err := s.live.get(ctx, s.Store, resource, ns, ref.Name, now)
		if err != nil {
			return err
		}
		switch {
		case !o.found:
			return fmt.Errorf("%w: %s %s/%s no longer exists", errBadToken, resource, ns, ref.Name)
		case ref.UID != "" && string(o.uid) != ref.UID:
			return fmt.Errorf("%w: %s %s/%s was replaced (uid %s, token names %s)", errBadToken, resource, ns, ref.Name, o.uid, ref.UID)
		case mustNotBeDeleted && o.deleting != nil && o.deleting.Add(tokenLeeway).Before(now):
			return fmt.Errorf("%w: %s %s/%s is being deleted", errBadToken, resource, ns, ref.Name)
		}
		return nil
	}
	if err := check("serviceaccounts", k.Namespace, &k.ServiceAccount, false); err != nil {
		return user{}, err
	}
	if err := check("pods", k.Namespace, k.Pod, true); err != nil {
		return user{}, err
	}
	if err := check("secrets", k.Namespace, k.Secret, true); err != nil {
		return user{}, err
	}
	if k.Pod == nil {
		if err := check("nodes", "", k.Node, true); err != nil {
			return user{}, err
		}
	}
	return user{Name: c.Subject, Groups: []string{"system:serviceaccounts", "system:serviceaccounts:" + k.Namespace, "system:authenticated"}}, nil
}

// serviceAccount returns the namespace and name of a service-account
// identity (user system:serviceaccount:<ns>:<name> in group
// system:serviceaccounts).
func (u user) serviceAccount() (ns, name string, ok bool) {
	rest, ok := strings.CutPrefix(u.Name, "system:serviceaccount:")
	if !ok {
		return "", "", false
	}
	ns, name, ok = strings.Cut(rest, ":")
	if !ok || ns == "" || name == "" {
		return "", "", false
	}
	for _, g := range u.Groups {
		if g == "system:serviceaccounts" {
			return ns, name, true
		}
	}
	return "", "", false
}

// liveTTL is how long a successful lookup of a token's service account or
// bound object is reused, so a busy pod does not cost an etcd read per
// request. A deleted object's tokens stop working within it.
const liveTTL = 2 * time.Second

// liveCacheMax bounds the cache; it is emptied when full.
const liveCacheMax = 20000

type liveObj struct {
	found    bool
	uid      types.UID
	deleting *time.Time
	at       time.Time
}

// liveCache remembers recent lookups of objects tokens refer to. Only
// objects that exist are kept, so a new object is seen at once.
type liveCache struct {
	mu sync.Mutex
	m  map[string]liveObj
}

func (c *liveCache) get(ctx context.Context, st *storage.Store, resource, ns, name string, now time.Time) (liveObj, error) {
	key := storage.Key(resource, ns, name)
	c.mu.Lock()
	o, ok := c.m[key]
	c.mu.Unlock()
	if ok && now.Sub(o.at) < liveTTL && now.After(o.at) {
		return o, nil
	}
	var obj runtime.Object
	switch resource {
	case "pods":
		obj = &corev1.Pod{}
	case "secrets":
		obj = &corev1.Secret{}
	case "nodes":
		obj = &corev1.Node{}
	default:
		obj = &corev1.ServiceAccount{}
	}
	if _, err := st.Get(ctx, key, obj); err != nil {
		if errors.Is(err, storage.ErrNotFound) {
			c.mu.Lock()
			delete(c.m, key)
			c.mu.Unlock()
			return liveObj{}, nil
		}
		return liveObj{}, apierrors.NewInternalError(fmt.Errorf("check the service-account token's %s %s/%s: %w", resource, ns, name, err))
	}
	acc := obj.(metav1.Object)
	o = liveObj{found: true, uid: acc.GetUID(), at: now}
	if d := acc.GetDeletionTimestamp(); d != nil {
		t := d.Time
		o.deleting = &t
	}
	c.mu.Lock()
	if c.m == nil || len(c.m) >= liveCacheMax {
		c.m = map[string]liveObj{}
	}
	c.m[key] = o
	c.mu.Unlock()
	return o, nil
}
