package tail

import (
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/spillwayhq/spillway/forwarder/parser"
)

// Config configures one tail source.
type Config struct {
	// Name identifies the source in the position file and the buffer
	// (default: the tag). Unique per forwarder.
	Name string `yaml:"name"`
	// Paths are globs of the files to follow.
	Paths []string `yaml:"path"`
	// Exclude are globs of files never followed.
	Exclude []string `yaml:"exclude_path"`
	// Rotated are globs, with {path} standing for a followed file's path,
	// naming its rotated copies (default {path}.[0-9]* and {path}-[0-9]*).
	// Compressed copies (.gz, .bz2, .xz, .zst) are never read.
	Rotated []string `yaml:"rotated_path"`
	// Tag is the events' Fluentd tag; forwarder/route maps it to a table.
	// A "*" in it is replaced by the file's path with "/" turned into "."
	// (Fluentd in_tail: tag app.* and /var/log/a.log give
	// app.var.log.a.log).
	Tag string `yaml:"tag"`
	// PosFile is the position file (written atomically, mode 0600).
	PosFile string `yaml:"pos_file"`
	// TakeoverPosFile is a td-agent (Fluentd in_tail) position file read
	// once, read-only, at the first start (when PosFile does not exist yet):
	// a file whose inode it names, and whose size is at least the position
	// it records, is read from exactly that position. A file at a path it
	// names under another inode (rotated since), or shorter than the
	// position (truncated since), is read from its head (counted in
	// Stats.TakeoverMismatched and logged). The file is never written.
	TakeoverPosFile string `yaml:"takeover_pos_file"`
	// ReadFromHead reads files found at the first start from their
	// beginning instead of their end. Files appearing later are always read
	// from their beginning.
	ReadFromHead bool `yaml:"read_from_head"`
	// RefreshInterval is how often globs are re-expanded without an event.
	RefreshInterval time.Duration `yaml:"refresh_interval"`
	// PollInterval is how often files are checked without an event.
	PollInterval time.Duration `yaml:"poll_interval"`
	// RotateWait is how long a rotated (or deleted) file is still watched
	// for writes after reaching its end.
	RotateWait time.Duration `yaml:"rotate_wait"`
	// MaxLineSize truncates longer lines (counted and logged).
	MaxLineSize int `yaml:"max_line_size"`
	// ReadBytes is the read block size.
	ReadBytes int `yaml:"read_bytes"`
	// BatchBytes is how many record bytes are gathered per buffer Append.
	BatchBytes int `yaml:"batch_bytes"`
	// MultilineStart, when set, is a regexp matching the first line of an
	// event; following lines that do not match are joined to it with "\n".
	MultilineStart string `yaml:"multiline_start"`
	// MultilineTimeout emits a pending multiline event after this much
	// quiet (multiline_flush_interval).
	MultilineTimeout time.Duration `yaml:"multiline_flush_interval"`
	// PathKey, when set, adds the file's path to every record under this
	// key (Fluentd in_tail path_key).
	PathKey string `yaml:"path_key"`
	// HostKey, when set, adds the host name to every record under this
	// key.
	HostKey string `yaml:"host_key"`
	// Parse configures the line parser.
	Parse parser.Config `yaml:"parse"`
}

// DefaultConfig returns the defaults of the fields that have one: rotated
// copies {path}.[0-9]* and {path}-[0-9]*, globs re-expanded every 5s, files
// polled every second, rotated files watched 5s, 512 KiB lines, 1 MiB
// reads, 2 MiB batches, multiline events flushed after 5s quiet, parser
// "none". Paths, Tag and PosFile have no default; Name defaults to the Tag
// (forwarder/config fills it, with PosFile under the state directory).
func DefaultConfig() Config {
	return Config{
		Rotated:          []string{"{path}.[0-9]*", "{path}-[0-9]*"},
		RefreshInterval:  5 * time.Second,
		PollInterval:     time.Second,
		RotateWait:       5 * time.Second,
		MaxLineSize:      512 << 10,
		ReadBytes:        1 << 20,
		BatchBytes:       2 << 20,
		MultilineTimeout: 5 * time.Second,
		Parse:            parser.Config{Type: parser.TypeNone},
	}
}

// Validate reports every problem of c, each prefixed with its field name.
func (c Config) Validate() error {
	var errs []error
	if len(c.Paths) == 0 {
		errs = append(errs, errors.New("path: at least one glob is required"))
	}
	for i, p := range append(append([]string{}, c.Paths...), c.Exclude...) {
		if _, err := filepath.Match(p, ""); err != nil {
			errs = append(errs, fmt.Errorf("path[%d]: bad glob %q: %w", i, p, err))
		}
	}
	for i, r := range c.Rotated {
		if !strings.Contains(r, "{path}") {
			errs = append(errs, fmt.Errorf("rotated_path[%d]: %q lacks {path}", i, r))
		}
	}
	if c.Tag == "" || strings.ContainsAny(c.Tag, " \t\n") {
		errs = append(errs, fmt.Errorf("tag: %q is not a Fluentd tag", c.Tag))
	}
	for k, v := range map[string]string{"path_key": c.PathKey, "host_key": c.HostKey} {
		if v == "time" {
			errs = append(errs, fmt.Errorf("%s: the time field cannot be replaced", k))
		}
	}
	if c.Name == "" {
		errs = append(errs, errors.New("name: must be set (forwarder/config defaults it to the tag)"))
	}
	if c.PosFile == "" {
		errs = append(errs, errors.New("pos_file: must be set"))
	}
	if c.TakeoverPosFile != "" && filepath.Clean(c.TakeoverPosFile) == filepath.Clean(c.PosFile) {
		errs = append(errs, fmt.Errorf("takeover_pos_file: %q is also pos_file: the forwarder never writes a td-agent position file; give pos_file its own path", c.TakeoverPosFile))
	}
	if c.MaxLineSize < 16 {
		errs = append(errs, fmt.Errorf("max_line_size: %d is below 16", c.MaxLineSize))
	}
	if c.ReadBytes < 4096 {
		errs = append(errs, fmt.Errorf("read_bytes: %d is below 4096", c.ReadBytes))
	}
	if c.BatchBytes < 1024 {
		errs = append(errs, fmt.Errorf("batch_bytes: %d is below 1024", c.BatchBytes))
	}
	for name, d := range map[string]time.Duration{"refresh_interval": c.RefreshInterval, "poll_interval": c.PollInterval,
		"rotate_wait": c.RotateWait, "multiline_flush_interval": c.MultilineTimeout} {
		if d <= 0 {
			errs = append(errs, fmt.Errorf("%s: %v must be positive", name, d))
		}
	}
	if c.MultilineStart != "" {
		if _, err := regexp.Compile(c.MultilineStart); err != nil {
			errs = append(errs, fmt.Errorf("multiline_start: %w", err))
		}
	}
	if err := c.Parse.Validate(); err != nil {
		// One error per problem, each with its path (parse.keys: ...).
		var j interface{ Unwrap() []error }
		if errors.As(err, &j) {
			for _, e := range j.Unwrap() {
				errs = append(errs, fmt.Errorf("parse.%w", e))
			}
		} else {
			errs = append(errs, fmt.Errorf("parse.%w", err))
		}
	}
	return errors.Join(errs...)
}
