package mysqld

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestConfigFromEnv(t *testing.T) {
	secret := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(secret, []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name    string
		env     map[string]string
		wantErr string
		check   func(t *testing.T, c Config)
	}{
		{name: "no password", env: map[string]string{"MYSQL_DATABASE": "blog"}, wantErr: "MYSQL_ROOT_PASSWORD"},
		{name: "allow empty no is not yes", env: map[string]string{"MYSQL_ALLOW_EMPTY_PASSWORD": "no"}, wantErr: "MYSQL_ROOT_PASSWORD"},
		{name: "allow empty", env: map[string]string{"MYSQL_ALLOW_EMPTY_PASSWORD": "yes"}, check: func(t *testing.T, c Config) {
			if !c.AllowEmptyPassword || c.RootPassword != "" || c.Addr != DefaultAddr || c.RootHost != "%" {
				t.Errorf("got %+v", c)
			}
		}},
		{name: "full", env: map[string]string{"MYSQL_ROOT_PASSWORD": "r", "MYSQL_DATABASE": "blog", "MYSQL_USER": "app", "MYSQL_PASSWORD": "p"},
			check: func(t *testing.T, c Config) {
				if c.RootPassword != "r" || c.Database != "blog" || c.User != "app" || c.Password != "p" {
					t.Errorf("got %+v", c)
				}
			}},
		{name: "random", env: map[string]string{"MYSQL_RANDOM_ROOT_PASSWORD": "yes"}, check: func(t *testing.T, c Config) {
			if len(c.RootPassword) < 20 || !c.RandomRootPassword {
				t.Errorf("random password %q", c.RootPassword)
			}
		}},
		{name: "file", env: map[string]string{"MYSQL_ROOT_PASSWORD_FILE": secret}, check: func(t *testing.T, c Config) {
			if c.RootPassword != "from-file" {
				t.Errorf("password from file = %q", c.RootPassword)
			}
		}},
		{name: "file and value", env: map[string]string{"MYSQL_ROOT_PASSWORD": "x", "MYSQL_ROOT_PASSWORD_FILE": secret}, wantErr: "keep one"},
		{name: "missing file", env: map[string]string{"MYSQL_ROOT_PASSWORD_FILE": secret + ".nope"}, wantErr: "MYSQL_ROOT_PASSWORD_FILE"},
		{name: "user without password", env: map[string]string{"MYSQL_ROOT_PASSWORD": "r", "MYSQL_USER": "app"}, wantErr: "needs MYSQL_PASSWORD"},
		{name: "password without user", env: map[string]string{"MYSQL_ROOT_PASSWORD": "r", "MYSQL_PASSWORD": "p"}, wantErr: "without MYSQL_USER"},
		{name: "user root", env: map[string]string{"MYSQL_ROOT_PASSWORD": "r", "MYSQL_USER": "root", "MYSQL_PASSWORD": "p"}, wantErr: "root always exists"},
		{name: "bad database", env: map[string]string{"MYSQL_ROOT_PASSWORD": "r", "MYSQL_DATABASE": "a`b"}, wantErr: "MYSQL_DATABASE"},
		{name: "bad root host", env: map[string]string{"MYSQL_ROOT_PASSWORD": "r", "MYSQL_ROOT_HOST": "a'b"}, wantErr: "MYSQL_ROOT_HOST"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := ConfigFromEnv(env(tc.env))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one mentioning %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, c)
		})
	}
}
