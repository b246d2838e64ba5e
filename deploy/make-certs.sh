#!/usr/bin/env bash
# Make the TLS files of a fedot federation: a CA, the SuperLink's certificate signed by it, the
# secret the SuperLink shares with its ServerApp executor, and (optionally) one SuperNode
# authentication key pair per node.
#
#   deploy/make-certs.sh [-o DIR] [-n NAME]... [-k N] [-d DAYS] [-f]
#
#   -o DIR    where to write (default: deploy/certs next to this script; git-ignored)
#   -n NAME   a host name or IP address the SuperNodes and the flwr CLI use to reach the
#             SuperLink; repeat for each. Always included: localhost, 127.0.0.1, ::1 and
#             superlink (the service name inside docker compose).
#   -k N      also make N SuperNode key pairs supernode-0 .. supernode-(N-1)
#             (ECDSA P-384, OpenSSH format: what `flower-supernode --auth-supernode-private-key`
#             and `flwr supernode register` expect)
#   -d DAYS   validity of the certificates (default 365)
#   -f        overwrite existing files
#
# Writes one folder per audience, so each machine or container gets only what it needs:
#   ca.key                       the CA's private key: keep it here (it signs certificates)
#   superexec.secret             shared by the SuperLink and its ServerApp executor only (the
#                                SuperLink refuses any executor without it); stays on its host
#   public/ca.crt                the CA certificate: every SuperNode, the ServerApp executor and
#                                everyone who runs `flwr` or `python -m fedot.deploy run`
#   superlink/                   the SuperLink's only: ca.crt, server.pem, server.key
#   supernodes/supernode-<i>     node i's private key (supernode-<i>.pub: register it)
# Private keys and the secret have mode 0600, also when -f replaces files that had another mode.
# Never commit them (deploy/certs/ is git-ignored).
set -euo pipefail

out="$(cd "$(dirname "$0")" && pwd)/certs"
names=()
keys=0
days=365
force=0
while getopts "o:n:k:d:fh" opt; do
  case "$opt" in
    o) out="$OPTARG" ;;
    n) names+=("$OPTARG") ;;
    k) keys="$OPTARG" ;;
    d) days="$OPTARG" ;;
    f) force=1 ;;
    h) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) echo "usage: $0 [-o DIR] [-n NAME]... [-k N] [-d DAYS] [-f]" >&2; exit 2 ;;
  esac
done
[[ "$keys" =~ ^[0-9]+$ ]] || { echo "error: -k takes a number of SuperNodes, got '$keys'" >&2; exit 2; }
command -v openssl >/dev/null || { echo "error: openssl is not installed" >&2; exit 1; }
if (( keys > 0 )); then
  command -v ssh-keygen >/dev/null || { echo "error: ssh-keygen is needed for -k (package openssh-client)" >&2; exit 1; }
fi

if [[ -e "$out/public/ca.crt" && $force -eq 0 ]]; then
  echo "error: $out/public/ca.crt exists; pass -f to replace the CA (every node then needs the new ca.crt)" >&2
  exit 1
fi
mkdir -p "$out/public" "$out/superlink"
(( keys == 0 )) || mkdir -p "$out/supernodes"

# subjectAltName: IP:... for addresses, DNS:... for names.
san="DNS:localhost,IP:127.0.0.1,IP:::1,DNS:superlink"
for name in "${names[@]}"; do
  if [[ "$name" =~ ^[0-9.]+$ || "$name" == *:* ]]; then san+=",IP:$name"; else san+=",DNS:$name"; fi
done
cn="${names[0]:-localhost}"

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
umask 077
# New files get the umask's 0600; files being replaced (-f) would keep their old mode.
rm -f "$out/ca.key" "$out/superlink/server.key" "$out/superexec.secret"
openssl ecparam -name prime256v1 -genkey -noout -out "$out/ca.key"
openssl req -x509 -new -key "$out/ca.key" -sha256 -days "$days" -subj "/CN=fedot federation CA" \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
  -out "$out/public/ca.crt"
openssl ecparam -name prime256v1 -genkey -noout -out "$out/superlink/server.key"
openssl req -new -key "$out/superlink/server.key" -subj "/CN=$cn" -out "$tmp/server.csr"
cat > "$tmp/server.ext" <<EXT
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=$san
EXT
openssl x509 -req -in "$tmp/server.csr" -CA "$out/public/ca.crt" -CAkey "$out/ca.key" -CAcreateserial \
  -CAserial "$tmp/ca.srl" -days "$days" -sha256 -extfile "$tmp/server.ext" -out "$out/superlink/server.pem" 2>/dev/null
cp "$out/public/ca.crt" "$out/superlink/ca.crt"
head -c 32 /dev/urandom > "$out/superexec.secret"
chmod 600 "$out/ca.key" "$out/superlink/server.key" "$out/superexec.secret"
chmod 755 "$out/public" "$out/superlink"
chmod 644 "$out/public/ca.crt" "$out/superlink/ca.crt" "$out/superlink/server.pem"

for ((i = 0; i < keys; i++)); do
  rm -f "$out/supernodes/supernode-$i" "$out/supernodes/supernode-$i.pub"
  ssh-keygen -q -t ecdsa -b 384 -N "" -C "fedot-supernode-$i" -f "$out/supernodes/supernode-$i"
  chmod 644 "$out/supernodes/supernode-$i.pub"
done

openssl verify -CAfile "$out/public/ca.crt" "$out/superlink/server.pem" >/dev/null
echo "wrote to $out:"
echo "  ca.key                  the CA's key: keep it here, it signs new SuperLink certificates"
echo "  superexec.secret        the SuperLink's and its ServerApp executor's shared secret: keep it here"
echo "  public/ca.crt           the CA certificate: every SuperNode machine and every flwr / fedot.deploy user"
echo "  superlink/              the SuperLink's certificate for $san"
if (( keys > 0 )); then
  echo "  supernodes/             $keys SuperNode key pairs supernode-<i>: the private key goes to node i only;"
  echo "                          register the .pub files: python -m fedot.deploy register ..."
fi
