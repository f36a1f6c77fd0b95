package main

import (
	"fmt"
	"runtime/debug"
)

// Set at build time (Dockerfile):
//
//	-ldflags "-X main.version=1.2.3 -X main.commit=abc1234 -X main.date=2026-11-28T19:00:00Z"
//
// Whatever is left empty comes from the module build info.
var (
	version = ""
	commit  = ""
	date    = ""
)

// buildInfo is the version, commit and build date of this binary.
type buildInfo struct {
	Version, Commit, Date, Go string
	Modified                  bool
}

// readBuildInfo fills what -ldflags left empty from the module build info:
// the module version, vcs.revision and vcs.time (set by `go build` in a git
// checkout).
func readBuildInfo() buildInfo {
	b := buildInfo{Version: version, Commit: commit, Date: date}
	if bi, ok := debug.ReadBuildInfo(); ok {
		b.Go = bi.GoVersion
		if b.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			b.Version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				if b.Commit == "" {
					b.Commit = s.Value
				}
			case "vcs.time":
				if b.Date == "" {
					b.Date = s.Value
				}
			case "vcs.modified":
				b.Modified = s.Value == "true" && commit == ""
			}
		}
	}
	if b.Version == "" {
		b.Version = "dev"
	}
	if len(b.Commit) > 12 {
		b.Commit = b.Commit[:12]
	}
	return b
}

// versionLine is what `clorebot version` and `--version` print.
func versionLine() string {
	b := readBuildInfo()
	return fmt.Sprintf("clorebot %s (commit %s, built %s, %s)", b.Version, b.commitText(), orUnknown(b.Date), b.Go)
}

// commitText is the commit as versionLine and clorebot_build_info show it:
// "unknown" when the build did not say, "+dirty" for uncommitted changes.
func (b buildInfo) commitText() string {
	c := orUnknown(b.Commit)
	if b.Modified {
		c += "+dirty"
	}
	return c
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}
