package containerd

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"path"
	"strings"
)

// Credential is a login for the registries whose host matches Registry.
type Credential struct {
	// Registry is a host[:port], possibly with a leading "*." glob
	// ("*.example.com"); Docker Hub's aliases all mean docker.io.
	Registry string
	// Username and Secret; an empty Username with a Secret is an identity
	// (refresh) token.
	Username, Secret string
}

// dockerConfigEntry is one entry of a docker config's "auths".
type dockerConfigEntry struct {
	Username      string `json:"username"`
	Password      string `json:"password"`
	Auth          string `json:"auth"`
	IdentityToken string `json:"identitytoken"`
}

// ParseDockerConfig reads the credentials in a kubernetes.io/dockerconfigjson
// secret's ".dockerconfigjson" ({"auths": {...}}) or, with legacy, a
// kubernetes.io/dockercfg secret's ".dockercfg" (the auths map alone).
func ParseDockerConfig(data []byte, legacy bool) ([]Credential, error) {
	var auths map[string]dockerConfigEntry
	if legacy {
		if err := json.Unmarshal(data, &auths); err != nil {
			return nil, fmt.Errorf("parse .dockercfg: %w", err)
		}
	} else {
		var cfg struct {
			Auths map[string]dockerConfigEntry `json:"auths"`
		}
		if err := json.Unmarshal(data, &cfg); err != nil {
			return nil, fmt.Errorf("parse .dockerconfigjson: %w (create it with kubectl create secret docker-registry)", err)
		}
		auths = cfg.Auths
	}
	var out []Credential
	for key, e := range auths {
		c := Credential{Registry: credentialHost(key), Username: e.Username, Secret: e.Password}
		if e.Auth != "" {
			raw, err := base64.StdEncoding.DecodeString(e.Auth)
			if err != nil {
				return nil, fmt.Errorf("registry %s: auth is not base64: %w", key, err)
			}
			user, pass, ok := strings.Cut(string(raw), ":")
			if !ok {
				return nil, fmt.Errorf("registry %s: auth is not base64 of user:password", key)
			}
			c.Username, c.Secret = user, pass
		}
		if e.IdentityToken != "" {
			c.Username, c.Secret = "", e.IdentityToken
		}
		if c.Registry == "" || (c.Username == "" && c.Secret == "") {
			continue
		}
		out = append(out, c)
	}
	return out, nil
}

// credentialHost turns a docker config key ("https://index.docker.io/v1/",
// "registry:5000", "http://registry:5000/v2/") into a canonical host.
func credentialHost(key string) string {
	key = strings.TrimSpace(key)
	if _, rest, ok := strings.Cut(key, "://"); ok {
		key = rest
	}
	key, _, _ = strings.Cut(key, "/")
	return canonicalHost(key)
}

// matches reports whether the credential applies to registry host.
func (c Credential) matches(host string) bool {
	host = canonicalHost(host)
	pattern := canonicalHost(c.Registry)
	if pattern == host {
		return true
	}
	if strings.Contains(pattern, "*") {
		ok, err := path.Match(pattern, host)
		return err == nil && ok
	}
	return false
}

// lookupCredential picks the first credential for host, then the
// registry config's, or none.
func lookupCredential(creds []Credential, cfg *RegistryConfig, host string) (user, secret string, ok bool) {
	for _, c := range creds {
		if c.matches(host) {
			return c.Username, c.Secret, true
		}
	}
	if hc := cfg.hostConfig(host); hc.Username != "" || hc.Password != "" {
		return hc.Username, hc.Password, true
	}
	return "", "", false
}
