package apiserver

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/golang-jwt/jwt/v5"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Issuer is the iss claim of service-account tokens, and APIAudience the
// audience the API server accepts: a TokenRequest without audiences gets
// it, as kube-apiserver's default --api-audiences is its issuer.
const (
	Issuer      = "https://kubernetes.default.svc.cluster.local"
	APIAudience = Issuer
)

// saKeyEtcd holds the service-account signing key in etcd, so every server
// sharing one etcd signs and verifies with the same key (like caKey).
const saKeyEtcd = "/registry/skiff/pki/service-account-key"

// saKeyFile is the local copy, beside the CA under <data-dir>/pki.
const saKeyFile = "sa.key"

// saKeys signs and verifies service-account tokens (ES256).
type saKeys struct {
	priv *ecdsa.PrivateKey
	// kid is base64url(SHA-256(public key DER)), the header kid.
	kid string
}

func newSAKeys(priv *ecdsa.PrivateKey) (*saKeys, error) {
	der, err := x509.MarshalPKIXPublicKey(&priv.PublicKey)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(der)
	return &saKeys{priv: priv, kid: base64.RawURLEncoding.EncodeToString(sum[:])}, nil
}

func parseSAKey(pemBytes []byte) (*ecdsa.PrivateKey, error) {
	b, _ := pem.Decode(pemBytes)
	if b == nil {
		return nil, errors.New("no PEM block")
	}
	return x509.ParseECPrivateKey(b.Bytes)
}

func encodeSAKey(k *ecdsa.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), nil
}

type storedSAKey struct {
	Key string `json:"key"`
}

// loadOrCreateSAKey returns the cluster's service-account signing key: the
// one published in etcd, else this data directory's <pki>/sa.key, else a
// new one, which is then published (the first server to publish wins).
// The local file always ends up a copy of the cluster's key.
func loadOrCreateSAKey(ctx context.Context, cli *clientv3.Client, dataDir string) (*saKeys, error) {
	path := filepath.Join(dataDir, "pki", saKeyFile)
	for attempt := 0; attempt < 2; attempt++ {
		resp, err := cli.Get(ctx, saKeyEtcd)
		if err != nil {
			return nil, fmt.Errorf("read the service-account signing key from etcd: %w", err)
		}
		if len(resp.Kvs) == 1 {
			var st storedSAKey
			if err := json.Unmarshal(resp.Kvs[0].Value, &st); err != nil {
				return nil, fmt.Errorf("the service-account key in etcd (%s) is unreadable: %v", saKeyEtcd, err)
			}
			k, err := parseSAKey([]byte(st.Key))
			if err != nil {
				return nil, fmt.Errorf("the service-account key in etcd (%s) is unreadable: %v", saKeyEtcd, err)
			}
			if local, err := os.ReadFile(path); err != nil || string(local) != st.Key {
				if err := os.WriteFile(path, []byte(st.Key), 0o600); err != nil {
					return nil, fmt.Errorf("write %s: %w", path, err)
				}
			}
			return newSAKeys(k)
		}
		var pemKey []byte
		if local, err := os.ReadFile(path); err == nil {
			if _, err := parseSAKey(local); err != nil {
				return nil, fmt.Errorf("%s is unreadable: %v (remove it to have a new key made; tokens signed with it stop working)", path, err)
			}
			pemKey = local
		} else {
			k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			if err != nil {
				return nil, err
			}
			if pemKey, err = encodeSAKey(k); err != nil {
				return nil, err
			}
		}
		val, _ := json.Marshal(storedSAKey{Key: string(pemKey)})
		tx, err := cli.Txn(ctx).If(clientv3.Compare(clientv3.CreateRevision(saKeyEtcd), "=", 0)).
			Then(clientv3.OpPut(saKeyEtcd, string(val))).Commit()
		if err != nil {
			return nil, fmt.Errorf("publish the service-account signing key in etcd: %w", err)
		}
		if !tx.Succeeded {
			continue // another server published first: take its key
		}
		if err := os.WriteFile(path, pemKey, 0o600); err != nil {
			return nil, fmt.Errorf("write %s: %w", path, err)
		}
		k, _ := parseSAKey(pemKey)
		return newSAKeys(k)
	}
	return nil, errors.New("could not agree on a service-account signing key in etcd; restart the server")
}

// objRef names a bound object or the service account in the token.
type objRef struct {
	Name string `json:"name,omitempty"`
	UID  string `json:"uid,omitempty"`
}

// k8sClaims is the "kubernetes.io" private claim, shaped as Kubernetes'.
type k8sClaims struct {
	Namespace      string           `json:"namespace,omitempty"`
	ServiceAccount objRef           `json:"serviceaccount"`
	Pod            *objRef          `json:"pod,omitempty"`
	Secret         *objRef          `json:"secret,omitempty"`
	Node           *objRef          `json:"node,omitempty"`
	WarnAfter      *jwt.NumericDate `json:"warnafter,omitempty"`
}

// saClaims are the claims of a service-account token.
type saClaims struct {
	jwt.RegisteredClaims
	Kubernetes *k8sClaims `json:"kubernetes.io,omitempty"`
}

// sign makes a signed JWT of c.
func (k *saKeys) sign(c *saClaims) (string, error) {
	t := jwt.NewWithClaims(jwt.SigningMethodES256, c)
	t.Header["kid"] = k.kid
	return t.SignedString(k.priv)
}

// tokenLeeway tolerates clock skew between servers on exp and nbf.
const tokenLeeway = 60 * time.Second

// verify checks the signature, issuer, audience, expiry and not-before of
// a token and returns its claims. It reads nothing from storage.
func (k *saKeys) verify(token string, now time.Time) (*saClaims, error) {
	c := &saClaims{}
	_, err := jwt.ParseWithClaims(token, c, func(t *jwt.Token) (any, error) {
		if kid, _ := t.Header["kid"].(string); kid != "" && kid != k.kid {
			return nil, fmt.Errorf("unknown key id %q", kid)
		}
		return &k.priv.PublicKey, nil
	}, jwt.WithValidMethods([]string{"ES256"}), jwt.WithIssuer(Issuer), jwt.WithAudience(APIAudience),
		jwt.WithExpirationRequired(), jwt.WithLeeway(tokenLeeway), jwt.WithTimeFunc(func() time.Time { return now }))
	if err != nil {
		return nil, err
	}
	if c.Kubernetes == nil || c.Kubernetes.Namespace == "" || c.Kubernetes.ServiceAccount.Name == "" {
		return nil, errors.New("not a service-account token: no kubernetes.io claim")
	}
	if want := "system:serviceaccount:" + c.Kubernetes.Namespace + ":" + c.Kubernetes.ServiceAccount.Name; c.Subject != want {
		return nil, fmt.Errorf("subject %q does not match the kubernetes.io claim (%s)", c.Subject, want)
	}
	return c, nil
}
