package mysqld

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"
)

// Config says what the server creates at start and where it listens.
type Config struct {
	// Addr is the TCP listen address, e.g. "0.0.0.0:3306".
	Addr string
	// RootPassword is root's password; empty only with AllowEmptyPassword.
	RootPassword string
	// AllowEmptyPassword lets root log in without a password.
	AllowEmptyPassword bool
	// RandomRootPassword says RootPassword was generated; Start logs it once.
	RandomRootPassword bool
	// RootHost is the host part of the network root account ("%" = any).
	// root@localhost always exists too.
	RootHost string
	// Database is created at start when not empty.
	Database string
	// User and Password make an extra account with all privileges on
	// Database (or on nothing when Database is empty).
	User, Password string
}

// DefaultAddr is where the server listens unless told otherwise.
const DefaultAddr = "0.0.0.0:3306"

var identRE = regexp.MustCompile(`^[A-Za-z0-9_$-]{1,64}$`)

// ConfigFromEnv reads the official mysql image's variables through getenv
// (os.Getenv in the image). A variable NAME_FILE, when set, names a file whose
// content (trailing newline trimmed) is NAME's value, as with mounted Secrets.
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	get := func(name string) (string, error) {
		v := getenv(name)
		f := getenv(name + "_FILE")
		if f == "" {
			return v, nil
		}
		if v != "" {
			return "", fmt.Errorf("both %s and %s_FILE are set: keep one", name, name)
		}
		b, err := os.ReadFile(f)
		if err != nil {
			return "", fmt.Errorf("%s_FILE: %w (mount the Secret at that path or unset %s_FILE)", name, err, name)
		}
		return strings.TrimRight(string(b), "\r\n"), nil
	}
	var c Config
	var err error
	c.Addr = DefaultAddr
	if c.RootPassword, err = get("MYSQL_ROOT_PASSWORD"); err != nil {
		return c, err
	}
	if c.Database, err = get("MYSQL_DATABASE"); err != nil {
		return c, err
	}
	if c.User, err = get("MYSQL_USER"); err != nil {
		return c, err
	}
	if c.Password, err = get("MYSQL_PASSWORD"); err != nil {
		return c, err
	}
	c.AllowEmptyPassword = truthy(getenv("MYSQL_ALLOW_EMPTY_PASSWORD"))
	c.RootHost = getenv("MYSQL_ROOT_HOST")
	if c.RootHost == "" {
		c.RootHost = "%"
	}
	if c.RootPassword == "" && !c.AllowEmptyPassword && truthy(getenv("MYSQL_RANDOM_ROOT_PASSWORD")) {
		buf := make([]byte, 18)
		if _, err := rand.Read(buf); err != nil {
			return c, fmt.Errorf("generate a random root password: %w", err)
		}
		c.RootPassword = base64.RawURLEncoding.EncodeToString(buf)
		c.RandomRootPassword = true
	}
	return c, c.Validate()
}

// Validate reports a configuration the server must not start with.
func (c Config) Validate() error {
	if c.RootPassword == "" && !c.AllowEmptyPassword {
		return errors.New("no root password: set MYSQL_ROOT_PASSWORD (for example from a Secret), " +
			"or MYSQL_ALLOW_EMPTY_PASSWORD=yes to allow root without a password, or MYSQL_RANDOM_ROOT_PASSWORD=yes")
	}
	if c.Database != "" && !identRE.MatchString(c.Database) {
		return fmt.Errorf("MYSQL_DATABASE %q: use 1-64 letters, digits, '_', '$' or '-'", c.Database)
	}
	if c.User != "" {
		if !identRE.MatchString(c.User) {
			return fmt.Errorf("MYSQL_USER %q: use 1-64 letters, digits, '_', '$' or '-'", c.User)
		}
		if c.User == "root" {
			return errors.New("MYSQL_USER=root: root always exists; set MYSQL_ROOT_PASSWORD for it and unset MYSQL_USER")
		}
		if c.Password == "" {
			return fmt.Errorf("MYSQL_USER=%s needs MYSQL_PASSWORD: set it, or unset MYSQL_USER", c.User)
		}
	} else if c.Password != "" {
		return errors.New("MYSQL_PASSWORD is set without MYSQL_USER: set MYSQL_USER too (root's password is MYSQL_ROOT_PASSWORD)")
	}
	if strings.ContainsAny(c.RootHost, "'\\`") {
		return fmt.Errorf("MYSQL_ROOT_HOST %q must not contain quotes or backslashes", c.RootHost)
	}
	return nil
}

// truthy follows the official image: any non-empty value switches an
// option on, except the obvious negatives.
func truthy(v string) bool {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "", "0", "no", "false", "off":
		return false
	}
	return true
}
