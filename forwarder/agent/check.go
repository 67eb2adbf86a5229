package agent

import (
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spillwayhq/spillway/forwarder/config"
	"github.com/spillwayhq/spillway/forwarder/output"
)

// Check looks for what would stop a valid configuration from starting:
// key and CA files (forward outputs' TLS files too) that cannot be read, environment variables that are
// unset (of the output section and of every outputs[] entry), a state directory (buffer, position files, log file) that is not
// writable, listening ports already taken. It returns one error per
// problem, each naming its key, joined; nil when there is none.
func Check(cfg config.Config) error {
	var errs []error
	add := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	endpoint := func(key string, e *output.Endpoint) {
		if e == nil {
			return
		}
		if e.APIKeyFile != "" {
			if b, err := os.ReadFile(e.APIKeyFile); err != nil {
				add(fmt.Errorf("%s.api_key_file: %w", key, err))
			} else if len(b) == 0 {
				add(fmt.Errorf("%s.api_key_file: %s is empty", key, e.APIKeyFile))
			}
		}
		if e.APIKeyEnv != "" && os.Getenv(e.APIKeyEnv) == "" {
			add(fmt.Errorf("%s.api_key_env: environment variable %s is not set or empty", key, e.APIKeyEnv))
		}
		if e.CAFile != "" {
			if _, err := os.ReadFile(e.CAFile); err != nil {
				add(fmt.Errorf("%s.ca_file: %w", key, err))
			}
		}
	}
	fwdTLS := func(key string, oc output.Config) {
		if oc.Forward == nil || oc.Forward.TLS == nil {
			return
		}
		t := oc.Forward.TLS
		if t.CAFile != "" {
			if _, err := os.ReadFile(t.CAFile); err != nil {
				add(fmt.Errorf("%s.forward.tls.ca_file: %w", key, err))
			}
		}
		if t.CertFile != "" {
			if _, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile); err != nil {
				add(fmt.Errorf("%s.forward.tls: cert_file, key_file: %w", key, err))
			}
		}
	}
	fwdTLS("output", cfg.Output)
	for i, o := range cfg.Outputs {
		fwdTLS(fmt.Sprintf("outputs[%d]", i), o.Config)
	}
	endpoint("output.primary", &cfg.Output.Primary)
	endpoint("output.standby", cfg.Output.Standby)
	for i, o := range cfg.Outputs {
		endpoint(fmt.Sprintf("outputs[%d].primary", i), &o.Primary)
		endpoint(fmt.Sprintf("outputs[%d].standby", i), o.Standby)
	}
	if f := cfg.Sources.Forward; f != nil && f.TLS != nil {
		if _, err := tls.LoadX509KeyPair(f.TLS.CertFile, f.TLS.KeyFile); err != nil {
			add(fmt.Errorf("sources.forward.tls: cert_file, key_file: %w", err))
		}
		if f.TLS.ClientCAFile != "" {
			if _, err := os.ReadFile(f.TLS.ClientCAFile); err != nil {
				add(fmt.Errorf("sources.forward.tls.client_ca_file: %w", err))
			}
		}
	}
	add(writableDir("buffer.path", cfg.Buffer.Dir))
	for i, o := range cfg.Outputs {
		// Each named output keeps its own buffer next to buffer.path.
		add(writableDir(fmt.Sprintf("outputs[%d] (buffer %s)", i, cfg.OutputBufferDir(o.Name)), cfg.OutputBufferDir(o.Name)))
	}
	for i, t := range cfg.Sources.Tail {
		add(writableDir(fmt.Sprintf("sources.tail[%d].pos_file", i), filepath.Dir(t.PosFile)))
	}
	if cfg.Log.File != "" {
		if f, err := os.OpenFile(cfg.Log.File, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640); err != nil {
			add(fmt.Errorf("log.file: %w", err))
		} else {
			f.Close()
		}
	}
	port := func(key, addr string) {
		ln, err := listen(key, addr)
		if err != nil {
			add(err)
			return
		}
		ln.Close()
	}
	if cfg.Sources.HTTP != nil {
		port("sources.http.addr", cfg.Sources.HTTP.Addr)
	}
	if cfg.Sources.Forward != nil {
		port("sources.forward.addr", cfg.Sources.Forward.Addr)
	}
	if !cfg.Monitor.Disabled {
		port("monitor.addr", cfg.Monitor.Addr)
	}
	return errors.Join(errs...)
}

// writableDir creates dir if needed (as the forwarder would at start) and
// writes and removes a file in it.
func writableDir(key, dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("%s: directory %s: %w", key, dir, err)
	}
	f, err := os.CreateTemp(dir, ".check-*")
	if err != nil {
		return fmt.Errorf("%s: directory %s is not writable: %w", key, dir, err)
	}
	f.Close()
	return os.Remove(f.Name())
}
