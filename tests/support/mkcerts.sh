#!/usr/bin/env bash
# mkcerts.sh DIR: a throwaway PKI for the TLS tests and the HTTPS benchmark,
# made with the openssl command line (EC P-256 keys: fast to make and use).
#
#   ca.pem, ca.key            test CA "A" (signs everything below)
#   other-ca.pem              an unrelated CA "B" (the wrong trust)
#   server.{pem,key}          localhost, 127.0.0.1, ::1
#   wrong-host.{pem,key}      wrong.example only
#   expired.{pem,key}         localhost, 127.0.0.1, valid in 2020 only
#   client.{pem,key}          client certificate (CN floodgate-client)
#   client-expired.{pem,key}  the same, valid in 2020 only
#   garbage.pem               not PEM at all
#   client-encrypted.key      client.key under a passphrase
set -euo pipefail
dir=${1:?usage: mkcerts.sh DIR}
mkdir -p "$dir"
cd "$dir"

key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }

ca() { # name cn
  key "$1.key"
  openssl req -x509 -new -key "$1.key" -sha256 -days 3650 -subj "/CN=$2" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -out "$1.pem" 2>/dev/null
}

ca ca "floodgate test CA A"
ca other-ca "floodgate test CA B"

mkdir -p ca.db
: >ca.db/index.txt
echo 1000 >ca.db/serial
cat >ca.cnf <<'EOF'
[ ca ]
default_ca = test
[ test ]
dir = ca.db
database = ca.db/index.txt
new_certs_dir = ca.db
serial = ca.db/serial
default_md = sha256
policy = any
unique_subject = no
copy_extensions = none
[ any ]
commonName = supplied
[ server ]
basicConstraints = CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = $ENV::SAN
[ client ]
basicConstraints = CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = clientAuth
EOF

leaf() { # name cn section san [start end]
  local name=$1 cn=$2 ext=$3 san=$4 dates=(-days 3650)
  [ $# -ge 6 ] && dates=(-startdate "$5" -enddate "$6")
  key "$name.key"
  openssl req -new -key "$name.key" -subj "/CN=$cn" -out "$name.csr" 2>/dev/null
  SAN=$san openssl ca -batch -notext -config ca.cnf -cert ca.pem -keyfile ca.key \
    -extensions "$ext" "${dates[@]}" -in "$name.csr" -out "$name.pem" 2>/dev/null
  rm -f "$name.csr"
}

leaf server localhost server "DNS:localhost,IP:127.0.0.1,IP:::1"
leaf wrong-host wrong.example server "DNS:wrong.example"
leaf expired localhost server "DNS:localhost,IP:127.0.0.1" 20200101000000Z 20200201000000Z
leaf client floodgate-client client "DNS:unused"
leaf client-expired floodgate-client client "DNS:unused" 20200101000000Z 20200201000000Z
echo "this is not a certificate" >garbage.pem
openssl pkey -in client.key -aes256 -passout pass:secret -out client-encrypted.key 2>/dev/null
