#!/usr/bin/env bash
# A local RFC 3161 time-stamp authority for the tests, using only the openssl CLI (OpenSSL 3).
# Usage: local_tsa.sh DIR [ec|rsa]      -> creates a root CA, a TSA certificate and tsa.cnf in DIR
#        local_tsa.sh DIR stamp FILE    -> writes FILE.tsq and FILE.tsr and verifies the token
# The TSA certificate has the critical, sole timeStamping extended key usage RFC 3161 requires.
set -euo pipefail
D=${1:?dir}; mkdir -p "$D"; D=$(cd "$D" && pwd)
cd "$D"
if [ ! -f tsa.cnf ]; then
  case "${2:-ec}" in
    rsa) NEWKEY=(-newkey rsa:2048) ;;
    *)   NEWKEY=(-newkey ec -pkeyopt ec_paramgen_curve:P-256) ;;
  esac
  openssl req -x509 "${NEWKEY[@]}" -nodes \
    -keyout ca.key -out ca.pem -days 3650 -subj "/CN=Test Evidence TSA Root" \
    -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
  openssl req -new "${NEWKEY[@]}" -nodes \
    -keyout tsa.key -out tsa.csr -subj "/CN=Test Evidence TSA" 2>/dev/null
  cat > tsa_ext.cnf <<'EXT'
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,nonRepudiation
extendedKeyUsage = critical,timeStamping
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
EXT
  openssl x509 -req -in tsa.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
    -out tsa.pem -days 1825 -sha256 -extfile tsa_ext.cnf 2>/dev/null
  echo 01 > tsaserial
  cat > tsa.cnf <<CNF
[ tsa ]
default_tsa = tsa_config1

[ tsa_config1 ]
dir                    = $D
serial                 = \$dir/tsaserial
crypto_device          = builtin
signer_cert            = \$dir/tsa.pem
certs                  = \$dir/ca.pem
signer_key             = \$dir/tsa.key
signer_digest          = sha256
default_policy         = 1.3.6.1.4.1.55555.1.1
other_policies         = 1.3.6.1.4.1.55555.1.2
digests                = sha256, sha384, sha512
accuracy               = secs:1
clock_precision_digits = 0
ordering               = yes
tsa_name               = yes
ess_cert_id_chain      = no
ess_cert_id_alg        = sha256
CNF
fi
if [ "${2:-}" = stamp ]; then
  F=${3:?file}
  openssl ts -query -data "$F" -sha256 -cert -out "$F.tsq"
  openssl ts -reply -config "$D/tsa.cnf" -queryfile "$F.tsq" -out "$F.tsr" 2>/dev/null
  openssl ts -verify -data "$F" -in "$F.tsr" -CAfile "$D/ca.pem" >/dev/null
fi
