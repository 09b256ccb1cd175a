package blog

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/go-sql-driver/mysql"
)

// Config says where the database is and what the app calls itself.
type Config struct {
	Host, Port       string
	User, Password   string
	Name             string
	Version          string
	Hostname         string // shown on pages; the pod name in Kubernetes
	ConnectTimeout   time.Duration
	MaxRetryInterval time.Duration // cap of WaitForDB's back-off
}

// ConfigFromEnv reads DB_HOST (default: MYSQL_SERVICE_HOST, which Kubernetes
// sets for a Service named mysql, else "mysql"), DB_PORT (default:
// MYSQL_SERVICE_PORT when the host came from MYSQL_SERVICE_HOST, else 3306),
// DB_USER (root), DB_PASSWORD and DB_NAME (blog).
func ConfigFromEnv(getenv func(string) string, version string) (Config, error) {
	c := Config{
		Host:     getenv("DB_HOST"),
		Port:     getenv("DB_PORT"),
		User:     getenv("DB_USER"),
		Password: getenv("DB_PASSWORD"),
		Name:     getenv("DB_NAME"),
		Version:  version,
	}
	if c.Host == "" {
		if h := getenv("MYSQL_SERVICE_HOST"); h != "" {
			c.Host = h
			if c.Port == "" {
				c.Port = getenv("MYSQL_SERVICE_PORT")
			}
		} else {
			c.Host = "mysql"
		}
	}
	if c.Port == "" {
		c.Port = "3306"
	}
	if c.User == "" {
		c.User = "root"
	}
	if c.Name == "" {
		c.Name = "blog"
	}
	c.Hostname, _ = os.Hostname()
	return c, c.Validate()
}

// Validate reports settings that cannot work.
func (c Config) Validate() error {
	if p, err := strconv.Atoi(c.Port); err != nil || p < 1 || p > 65535 {
		return fmt.Errorf("DB_PORT %q is not a port number (1-65535)", c.Port)
	}
	if c.Host == "" {
		return fmt.Errorf("DB_HOST is empty: set it to the database Service name, e.g. mysql")
	}
	return nil
}

// Addr is host:port of the database.
func (c Config) Addr() string { return net.JoinHostPort(c.Host, c.Port) }

func (c Config) driverConfig() *mysql.Config {
	mc := mysql.NewConfig()
	mc.User = c.User
	mc.Passwd = c.Password
	mc.Net = "tcp"
	mc.Addr = c.Addr()
	mc.DBName = c.Name
	mc.ParseTime = true
	mc.Timeout = c.ConnectTimeout
	if mc.Timeout == 0 {
		mc.Timeout = 3 * time.Second
	}
	mc.ReadTimeout = 10 * time.Second
	mc.WriteTimeout = 10 * time.Second
	mc.AllowNativePasswords = true
	return mc
}
