#!/bin/sh
# buildinfo.sh [GITDIR] prints the version, commit and build date that
# cmd/clorebot's -ldflags stamp, as shell assignments for eval:
#
#   eval "$(sh cmd/clorebot/buildinfo.sh .git)"
#   go build -ldflags "-X main.version=$VERSION -X main.commit=$COMMIT -X main.date=$DATE" ./cmd/clorebot
#
# A value already set in the environment (the Dockerfile's build arguments)
# wins. An empty one is read from the git repository at GITDIR when there is
# one (the Dockerfile's "git" build context, which docker-compose.yml passes):
# the commit, and `git describe --tags --always` as the version. Otherwise it
# stays empty and the binary says "dev" and "unknown". DATE defaults to now.
set -eu
gitdir=${1:-.git}
VERSION=${VERSION:-}
COMMIT=${COMMIT:-}
DATE=${DATE:-}
if [ -f "$gitdir/HEAD" ] && command -v git >/dev/null 2>&1; then
	# The repository is a bind mount owned by another user: trust it for these reads.
	[ -n "$COMMIT" ] || COMMIT=$(git -c safe.directory='*' --git-dir="$gitdir" rev-parse HEAD 2>/dev/null || true)
	[ -n "$VERSION" ] || VERSION=$(git -c safe.directory='*' --git-dir="$gitdir" describe --tags --always 2>/dev/null || true)
fi
[ -n "$DATE" ] || DATE=$(date -u +%Y-%m-%dT%H:%M:%SZ)
# Single-quoted for eval: a tag name may hold characters the shell would read.
quote() { printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"; }
printf 'VERSION=%s\nCOMMIT=%s\nDATE=%s\n' "$(quote "$VERSION")" "$(quote "$COMMIT")" "$(quote "$DATE")"
