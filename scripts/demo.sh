#!/usr/bin/env bash
# `make demo`: try pam-totp in one command, as root on a Debian machine.
#
# Installs the Debian packages it needs, builds the module and the command,
# creates a demo user with an SSH key, enrolls the user with `pam-totp
# enroll`, starts a throwaway sshd on a free port of 127.0.0.1 with its own
# PAM service (a copy of /usr/sbin/sshd under another name), logs in with
# key + code through a real ssh client, and shows that the same code is
# refused a second time. From a terminal the demo then stays up for you to
# try by hand; otherwise it ends. Either way it removes the user, the PAM
# service file, the sshd and its files when it ends.
#
# DEMO_USER and DEMO_SERVICE change the names of the user and of the PAM
# service (the tests use their own).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD

demo_user=${DEMO_USER:-pamtotp-demo}
service=${DEMO_SERVICE:-pamtotp-demo-sshd}
marker="pam-totp demo (make demo)"
export PATH="$HOME/.cargo/bin:$PATH:/usr/local/sbin:/usr/sbin:/sbin"

if [ -t 1 ]; then bold=$'\e[1m' dim=$'\e[2m' off=$'\e[0m'; else bold='' dim='' off=''; fi
step() { printf '\n%s==> %s%s\n' "$bold" "$*" "$off"; }
fail() {
    printf 'make demo: %s\n' "$*" >&2
    exit 1
}

[ "$(id -u)" = 0 ] || fail "run it as root: it creates a user, a PAM service and an sshd on 127.0.0.1 (all removed at the end)"
command -v apt-get >/dev/null || fail "this demo is for Debian and derivatives (apt-get not found); see README.md to build by hand"

# --- what it needs ---------------------------------------------------------
step "Checking the Debian packages the demo needs"
needed="gcc libc6-dev libpam0g-dev openssh-server openssh-client oathtool passwd procps make python3 util-linux"
missing=""
for package in $needed; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" ||
        missing="$missing $package"
done
if [ -n "$missing" ]; then
    echo "installing:$missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >/dev/null
    # shellcheck disable=SC2086
    apt-get install -y -q --no-install-recommends $missing >/dev/null
else
    echo "all present: $needed"
fi
command -v cargo >/dev/null ||
    fail "Rust is needed (cargo and rustc 1.88 or later; Debian 12's are too old): install it with rustup (https://rustup.rs), then run make demo again"

step "Building the module and the command (cargo build --release)"
make --no-print-directory build
module=$repo/target/release/libpam_totp.so
cli=$repo/target/release/pam-totp

# --- the throwaway world, removed on exit ------------------------------------
tmp=""
sshd_pid=""
made_user=0
pam_file=/etc/pam.d/$service

cleanup() {
    local status=$?
    set +e
    trap - EXIT INT TERM HUP
    if [ -n "$sshd_pid" ]; then
        # The listener and the per-connection processes it started.
        local pids="$sshd_pid" more="$sshd_pid" parent
        while [ -n "$more" ]; do
            local next=""
            for parent in $more; do next="$next $(pgrep -P "$parent" || true)"; done
            more=$(echo $next)
            pids="$pids $more"
        done
        kill $pids 2>/dev/null
        wait "$sshd_pid" 2>/dev/null
        for _ in $(seq 1 30); do
            local alive=""
            for pid in $pids; do kill -0 "$pid" 2>/dev/null && alive="$alive $pid"; done
            [ -z "$alive" ] && break
            sleep 0.1
        done
        [ -n "$alive" ] && kill -KILL $alive 2>/dev/null
    fi
    if [ -f "$pam_file" ] && grep -q "$marker" "$pam_file"; then
        rm -f "$pam_file"
    fi
    if [ "$made_user" = 1 ]; then
        # The user's last ssh session may still be closing.
        for _ in 1 2 3 4 5 6 7 8 9 10; do
            userdel --remove "$demo_user" 2>/dev/null && break
            sleep 0.5
        done
        id "$demo_user" >/dev/null 2>&1 && echo "make demo: could not remove user $demo_user; run: userdel --remove $demo_user" >&2
    fi
    [ -n "$tmp" ] && rm -rf "$tmp"
    if [ "$status" = 0 ]; then
        printf '\nDemo over: user %s, %s, the sshd and its files are gone.\n' "$demo_user" "$pam_file"
    fi
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

tmp=$(mktemp -d /tmp/pam-totp-demo.XXXXXX)

# A user left by an interrupted demo (marked in its comment field) is replaced;
# anyone else's is not touched.
if id "$demo_user" >/dev/null 2>&1; then
    getent passwd "$demo_user" | cut -d: -f5 | grep -q "$marker" ||
        fail "user $demo_user exists and is not a demo user; set DEMO_USER=another-name"
    userdel --remove "$demo_user" 2>/dev/null || true
fi
if [ -e "$pam_file" ] && ! grep -q "$marker" "$pam_file"; then
    fail "$pam_file exists and is not the demo's; set DEMO_SERVICE=another-name"
fi

step "Creating user $demo_user with an SSH key"
useradd --create-home --shell /bin/sh --comment "$marker" "$demo_user"
made_user=1
home=$(getent passwd "$demo_user" | cut -d: -f6)
ssh-keygen -q -t ed25519 -N '' -C "$demo_user key" -f "$tmp/id_ed25519"
install -d -m 0700 -o "$demo_user" -g "$(id -gn "$demo_user")" "$home/.ssh"
install -m 0600 -o "$demo_user" -g "$(id -gn "$demo_user")" "$tmp/id_ed25519.pub" "$home/.ssh/authorized_keys"
echo "$home/.ssh/authorized_keys: $(cut -d' ' -f1,3 "$tmp/id_ed25519.pub")"

# The demo's own configuration: state under $tmp, nothing in /etc/pam-totp.
cat >"$tmp/config.toml" <<EOF
# $marker
state_dir = "$tmp/state"
issuer = "pam-totp demo"
EOF

step "Enrolling $demo_user: pam-totp enroll --user $demo_user --no-confirm"
echo "${dim}(as root for the demo user; a user runs plain \`pam-totp enroll\`, which also asks for a code before saving)${off}"
enroll_output=$("$cli" --config "$tmp/config.toml" enroll --user "$demo_user" --no-confirm) ||
    fail "pam-totp enroll failed"
printf '%s\n' "$enroll_output"
secret=$(printf '%s\n' "$enroll_output" | grep -o 'secret=[A-Z2-7]*' | head -n 1 | cut -d= -f2)
if [ -z "$secret" ]; then
    secret=$(sed -n 's/^secret = "\([A-Z2-7]*\)".*/\1/p' "$home/.config/pam-totp/secret.toml")
fi
[ -n "$secret" ] || fail "could not find the secret in the output of pam-totp enroll"

# --- sshd with the repository's key + code stack ----------------------------
# pam.d/sshd-key-and-code as shipped, with the module by its full path and
# the demo's configuration; common-session-noninteractive so that no systemd
# user session outlives the demo.
{
    echo "# $marker; removed when the demo ends"
    sed -e "/^[[:space:]]*#/!s|pam_totp\.so|$module config=$tmp/config.toml|" \
        -e 's/^@include common-session$/@include common-session-noninteractive/' \
        pam.d/sshd-key-and-code
} >"$pam_file"

# A port below the kernel's range for outgoing connections, free, and
# locked the way the test suite locks its ports (tests/common/ports.rs),
# so that no test's server is given it while the demo runs.
port_locks=/tmp/pam-totp-test-ports
mkdir -p "$port_locks" && chmod 1777 "$port_locks"
port=""
for _ in $(seq 1 100); do
    candidate=$((20000 + RANDOM % 12000))
    exec {port_lock}>"$port_locks/$candidate.lock"
    if flock -n "$port_lock" && ! (exec 3<>"/dev/tcp/127.0.0.1/$candidate") 2>/dev/null; then
        port=$candidate
        break
    fi
    exec {port_lock}>&-
done
[ -n "$port" ] || fail "no free port found on 127.0.0.1"

ssh-keygen -q -t ed25519 -N '' -f "$tmp/host_key"
echo "[127.0.0.1]:$port $(cut -d' ' -f1,2 "$tmp/host_key.pub")" >"$tmp/known_hosts"
cat >"$tmp/sshd_config" <<EOF
Port $port
ListenAddress 127.0.0.1
HostKey $tmp/host_key
PidFile $tmp/sshd.pid
UsePAM yes
KbdInteractiveAuthentication yes
PasswordAuthentication no
PubkeyAuthentication yes
AuthenticationMethods publickey,keyboard-interactive
AuthorizedKeysFile .ssh/authorized_keys
StrictModes no
PrintMotd no
LogLevel VERBOSE
EOF
# sshd names its PAM service after the program: a copy under the demo's name.
cp /usr/sbin/sshd "$tmp/$service"
# sshd's privilege separation directory. Never removed at the end: the
# system's sshd and any other running sshd need it.
mkdir -p -m 0755 /run/sshd

# The module logs through syslog (/dev/log), not to sshd's stderr. So that
# the demo can show those lines whatever runs on this machine (journald,
# rsyslog or nothing at all), sshd runs in its own mount namespace whose
# /dev is a copy of the real one plus a /dev/log socket the demo reads;
# nothing else on the machine sees it.
cat >"$tmp/syslog-listener.py" <<'EOF_LISTENER'
import os, socket, sys
sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
sock.bind("/dev/log")
with open(sys.argv[1], "a", buffering=1) as out:
    while True:
        data = sock.recv(65536).decode("utf-8", "replace")
        # Drop the "<PRI>" header; glibc's lines carry no newline.
        out.write(data.split(">", 1)[-1] + "\n")
EOF_LISTENER
cat >"$tmp/in-namespace.sh" <<'EOF_NAMESPACE'
#!/bin/bash
# Inside `unshare --mount`: /dev with a log socket of our own, then sshd.
set -e
tmp=$1
shift
mkdir "$tmp/dev"
mount -t tmpfs -o mode=0755 tmpfs "$tmp/dev"
for entry in /dev/* /dev/.[!.]*; do
    [ -e "$entry" ] || [ -L "$entry" ] || continue
    name=${entry#/dev/}
    [ "$name" = log ] && continue
    if [ "$name" = ptmx ]; then
        # Opening ptmx finds the pts instance in the directory it sits in:
        # a bind-mounted node finds none ("PTY allocation request failed").
        ln -s pts/ptmx "$tmp/dev/ptmx"
    elif [ -L "$entry" ]; then
        cp -P "$entry" "$tmp/dev/$name"
    elif [ -d "$entry" ]; then
        mkdir "$tmp/dev/$name" && mount --rbind "$entry" "$tmp/dev/$name"
    else
        : >"$tmp/dev/$name" && mount --bind "$entry" "$tmp/dev/$name"
    fi
done
mount --rbind "$tmp/dev" /dev
python3 "$tmp/syslog-listener.py" "$tmp/syslog" &
for _ in $(seq 1 50); do [ -S /dev/log ] && break; sleep 0.1; done
exec "$@"
EOF_NAMESPACE
chmod 0700 "$tmp/in-namespace.sh"
: >"$tmp/syslog"
sshd_command=("$tmp/$service" -D -e -f "$tmp/sshd_config")
if unshare --mount --propagation private true 2>/dev/null; then
    sshd_command=(unshare --mount --propagation private "$tmp/in-namespace.sh" "$tmp" "${sshd_command[@]}")
    own_syslog=1
else
    own_syslog=0
fi

step "Starting sshd on 127.0.0.1:$port (PAM service $service)"
"${sshd_command[@]}" 2>"$tmp/sshd.log" &
sshd_pid=$!
for _ in $(seq 1 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    kill -0 "$sshd_pid" 2>/dev/null || fail "sshd did not start: $(cat "$tmp/sshd.log")"
    sleep 0.1
done
echo "sshd_config: AuthenticationMethods publickey,keyboard-interactive"
echo "$pam_file:"
grep -v '^[[:space:]]*#' "$pam_file" | grep -v '^$' | sed 's/^/    /'

# --- logins -----------------------------------------------------------------
# A real ssh client; the keyboard-interactive prompt goes to an SSH_ASKPASS
# helper that types the code and echoes prompt + answer into the transcript.
cat >"$tmp/askpass" <<EOF
#!/bin/sh
answer=\$(cat "$tmp/answer")
printf '%s%s\n' "\$1" "\$answer" >&2
printf '%s\n' "\$answer"
EOF
chmod 0700 "$tmp/askpass"

ssh_command=(ssh -p "$port" -i "$tmp/id_ed25519" -o IdentitiesOnly=yes
    -o UserKnownHostsFile="$tmp/known_hosts" -o StrictHostKeyChecking=yes
    -o NumberOfPasswordPrompts=1 -o ConnectTimeout=10 -F /dev/null)
remote_command='echo "Logged in as $(id -un) on $(hostname) ($(tty)), key + verification code."'

# login CODE: prints the transcript, returns ssh's exit status. With a
# terminal (-tt), as the login by hand below gets one.
login() {
    printf '%s\n' "$1" >"$tmp/answer"
    printf '%s$ ssh -p %s -i %s %s@127.0.0.1%s\n' "$bold" "$port" "$tmp/id_ed25519" "$demo_user" "$off"
    local status=0
    SSH_ASKPASS=$tmp/askpass SSH_ASKPASS_REQUIRE=force DISPLAY=:0 \
        "${ssh_command[@]}" -tt -o LogLevel=VERBOSE "$demo_user@127.0.0.1" "$remote_command" \
        </dev/null >"$tmp/out" 2>&1 || status=$?
    # Keep what a person at the terminal would see; drop ssh's connection chatter.
    grep -v -e '^debug' -e '^Authenticating to' -e '^Connecting to' -e '^Connection established' \
        -e '^Remote protocol' -e '^Local version' -e '^Server host key' -e '^Host .* found' \
        -e '^Will attempt' -e '^Offering public key' -e '^Server accepts key' \
        -e '^Transferred' -e '^Bytes per second' -e '^Exit status' -e '^Authenticated to' \
        -e '^Connection to .* closed' -e '^Server host key' -e '^Authentications that can continue' \
        -e '^Next authentication method' -e '^Timeout' -e '^Found key' -e '^Read' -e '^kex' \
        -e '^Enabled' -e '^Host key' -e '^compat' -e '^SSH2_MSG' -e '^Sending' -e '^Requesting' \
        -e '^Entering' -e '^client_input' -e '^channel' "$tmp/out" | tr -d '\r' | sed 's/^/    /'
    [ "$status" = 0 ] || printf '    %s(ssh exit status %s)%s\n' "$dim" "$status" "$off"
    return "$status"
}

code=$(oathtool --totp -b "$secret")
step "Logging in with the key and the current code ($code, as the app shows it; here from oathtool --totp -b SECRET)"
if ! login "$code"; then
    echo "sshd log:" >&2
    cat "$tmp/sshd.log" >&2
    fail "the login with key and code failed"
fi
grep -q "Logged in as $demo_user" "$tmp/out" || fail "the login did not run the command"
! grep -q "PTY allocation request failed" "$tmp/out" || fail "sshd could not give the login a terminal"
echo "LOGIN OK: key + verification code accepted"

step "Logging in again with the same code $code (each code works once)"
if login "$code"; then
    fail "the same code was accepted twice"
fi
grep -q "Permission denied" "$tmp/out" || fail "the replay was refused for another reason: $(cat "$tmp/out")"
echo "REPLAY REFUSED: the same code does not work a second time"

step "What sshd logged, with the module's own lines (pam_totp, through syslog)"
echo "sshd:"
grep -E "Partial publickey|(Accepted|Failed) keyboard-interactive" "$tmp/sshd.log" | sed -e 's/^/    /' || true
echo "the module (syslog, facility authpriv):"
grep "pam_totp" "$tmp/syslog" | sed -e 's/^/    /' || true
if [ "$own_syslog" = 0 ]; then
    echo "    ${dim}(no mount namespace here, so the module's lines went to this machine's syslog)${off}"
    if [ -d /run/systemd/system ] && command -v journalctl >/dev/null; then
        journalctl --no-pager -q -o cat -t "$service" --since "-5min" 2>/dev/null | grep pam_totp | sed 's/^/    /' || true
    fi
fi

# --- by hand ----------------------------------------------------------------
if [ -t 0 ]; then
    step "Your turn: the demo stays up until you press Enter"
    cat <<EOF
In another terminal (as root, the key is in $tmp):

    ssh -p $port -i $tmp/id_ed25519 -o UserKnownHostsFile=$tmp/known_hosts $demo_user@127.0.0.1

At "Verification code: " type the code from your phone (scan the QR code
above, or enter the secret $secret by hand), or get one with:

    oathtool --totp -b $secret

A code works once: wait for the next one (every 30 seconds) to log in again.
Three wrong codes lock the user out for 30 seconds, then 60, 120 ...

Press Enter to stop the demo and remove everything.
EOF
    read -r _ || true
fi
exit 0
