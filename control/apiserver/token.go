package apiserver

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// JoinToken returns the cluster join token K10<ca-sha256>::server:<secret>.
// The secret is created once and kept in <dataDir>/token. The CA must
// already exist (the server creates it on first start).
func JoinToken(dataDir string) (string, error) {
	if _, err := os.Stat(filepath.Join(dataDir, "pki", "ca.crt")); err != nil {
		return "", fmt.Errorf("no cluster CA in %s: run `skiff server --data-dir %s` once first", dataDir, dataDir)
	}
	pki, err := LoadOrCreatePKI(dataDir, nil, nil)
	if err != nil {
		return "", err
	}
	path := filepath.Join(dataDir, "token")
	secret := ""
	if b, err := os.ReadFile(path); err == nil && len(strings.TrimSpace(string(b))) >= 32 {
		secret = strings.TrimSpace(string(b))
	} else {
		buf := make([]byte, 16)
		if _, err := rand.Read(buf); err != nil {
			return "", err
		}
		secret = hex.EncodeToString(buf)
		if err := os.WriteFile(path, []byte(secret+"\n"), 0o600); err != nil {
			return "", fmt.Errorf("write %s: %w (check permissions of --data-dir)", path, err)
		}
	}
	return "K10" + pki.CAHash() + "::server:" + secret, nil
}

// ParseJoinToken splits a join token into the CA hash and the secret.
func ParseJoinToken(tok string) (caHash, secret string, err error) {
	rest, ok := strings.CutPrefix(strings.TrimSpace(tok), "K10")
	if !ok {
		return "", "", fmt.Errorf("join token must start with K10 (get one with `skiff token create`)")
	}
	caHash, secret, ok = strings.Cut(rest, "::server:")
	if !ok || len(caHash) != 64 || secret == "" {
		return "", "", fmt.Errorf("join token is malformed; expected K10<sha256>::server:<secret>")
	}
	if _, err := hex.DecodeString(caHash); err != nil {
		return "", "", fmt.Errorf("join token CA hash is not hex: %w", err)
	}
	return caHash, secret, nil
}
