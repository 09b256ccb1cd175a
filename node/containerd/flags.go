package containerd

import (
	"flag"
	"fmt"
	"strings"
)

// RegistryFlags are the agent's registry flags: --registry-config FILE and
// --insecure-registry HOST[:PORT] (repeatable, or comma-separated).
type RegistryFlags struct {
	ConfigFile string
	Insecure   []string
}

// Register adds the flags to fs.
func (f *RegistryFlags) Register(fs *flag.FlagSet) {
	fs.StringVar(&f.ConfigFile, "registry-config", "", "YAML/JSON file with per-registry settings (insecure, mirrors, caFile, username/password)")
	fs.Func("insecure-registry", "pull from this registry `host:port` over plain HTTP (repeatable; loopback registries always are)", func(s string) error {
		for _, h := range strings.Split(s, ",") {
			if h = strings.TrimSpace(h); h == "" {
				continue
			}
			if err := checkRegistryHost(h); err != nil {
				return fmt.Errorf("%q: %w", h, err)
			}
			f.Insecure = append(f.Insecure, h)
		}
		return nil
	})
}

// Load returns the registry config the flags describe: the file's, plus
// the --insecure-registry hosts.
func (f *RegistryFlags) Load() (*RegistryConfig, error) {
	cfg := &RegistryConfig{}
	if f.ConfigFile != "" {
		var err error
		if cfg, err = LoadRegistryConfig(f.ConfigFile); err != nil {
			return nil, err
		}
	}
	cfg.Insecure = append(cfg.Insecure, f.Insecure...)
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return cfg, nil
}
