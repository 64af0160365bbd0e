#!/bin/sh
# Cross-build a Windows x64 nginx.exe (PE32+) WITH SSL from Debian bookworm sources with MinGW-w64:
# nginx 1.22.1, pcre2 10.42, zlib 1.2.13 and OpenSSL 3.0.x (all linked statically), for the
# Windows lab tests (test/e2e/windows-lab-tls.test.ts). A test fixture, not part of the product.
#
#   sh scripts/build-nginx-win64.sh [WIN32_ONLY_TARBALL]
#
# Output: $OUT/nginx-ssl.exe (OUT defaults to ~/.cache/mlflow-secure-nginx-win64); a second run
# with the output present does nothing. Work files go to $OUT/work.
#
# Needs: root (apt-get), Debian's archive reachable (deb + deb-src), and the Windows-only part of
# the nginx source tree (src/os/win32, IOCP module, AcceptEx/ConnectEx). Upstream release
# tarballs -- and therefore Debian's nginx_1.22.1.orig.tar.gz -- do not ship those files; they
# only exist in the nginx repository (tag release-1.22.1). Give them as either
#   the first argument / NGINX_WIN32_TARBALL=path/to/nginx-1.22.1-win32-only.tar.gz
#       (default: ../shared/windows-lab/nginx-1.22.1-win32-only.tar.gz next to the checkout), or
#   NGINX_GIT=path/to/a/clone/of/github.com/nginx/nginx   (files taken from tag release-1.22.1)
# Those nginx sources are under nginx's BSD-2-Clause licence ("Copyright (C) 2002-2021 Igor
# Sysoev, Copyright (C) 2011-2022 Nginx, Inc."); keep that notice with any copy of them.
set -eu

HERE=$(cd "$(dirname "$0")" && pwd)
OUT=${OUT:-$HOME/.cache/mlflow-secure-nginx-win64}
W=$OUT/work
JOBS=${JOBS:-2}
HOST=x86_64-w64-mingw32
NGINX_WIN32_TARBALL=${1:-${NGINX_WIN32_TARBALL:-$HERE/../../shared/windows-lab/nginx-1.22.1-win32-only.tar.gz}}
WIN32_FILES="src/os/win32 src/event/modules/ngx_iocp_module.c src/event/modules/ngx_iocp_module.h
             src/event/ngx_event_acceptex.c src/event/ngx_event_connectex.c"

if [ -f "$OUT/nginx-ssl.exe" ]; then
    echo "already built: $OUT/nginx-ssl.exe"
    exit 0
fi
if [ -z "${NGINX_GIT:-}" ] && [ ! -f "$NGINX_WIN32_TARBALL" ]; then
    echo "missing the Windows-only nginx sources: give nginx-1.22.1-win32-only.tar.gz as the first argument, or NGINX_GIT=<nginx clone>" >&2
    exit 1
fi
NGINX_WIN32_TARBALL=$(cd "$(dirname "$NGINX_WIN32_TARBALL")" && pwd)/$(basename "$NGINX_WIN32_TARBALL")

mkdir -p "$W/src" "$W/out"

# 1. toolchain + deb-src -------------------------------------------------------------------------
if [ ! -f /etc/apt/sources.list.d/winbuild-src.sources ]; then
    # The deb-src entry reuses the archive this machine already installs from (its first deb822
    # URIs line, else its first `deb` line): no mirror is named here.
    uri=$(sed -n 's/^URIs:[[:space:]]*\([^[:space:]]*\).*/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -n 1)
    [ -n "$uri" ] || uri=$(sed -n 's/^deb[[:space:]]\{1,\}\(\[[^]]*\][[:space:]]*\)\{0,1\}\([^[:space:]]*\).*/\2/p' /etc/apt/sources.list 2>/dev/null | head -n 1)
    if [ -z "$uri" ]; then
        echo "no Debian archive found in /etc/apt/sources.list{,.d}: cannot add the deb-src entry" >&2
        exit 1
    fi
    cat > /etc/apt/sources.list.d/winbuild-src.sources <<SRC
Types: deb-src
URIs: $uri
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
    apt-get update
fi
need=
for p in dpkg-dev make perl file gcc-mingw-w64-x86-64 binutils-mingw-w64-x86-64 mingw-w64-x86-64-dev; do
    dpkg -s "$p" >/dev/null 2>&1 || need="$need $p"
done
[ -z "$need" ] || DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $need

# 2. sources (pin the bookworm suite: bookworm-security's source files are not on every mirror) ---
cd "$W/src"
[ -d nginx-1.22.1 ] || apt-get source nginx/bookworm
[ -d pcre2-10.42 ]  || apt-get source pcre2/bookworm
[ -d zlib-1.2.13.dfsg ] || apt-get source zlib/bookworm
ls -d openssl-3.0.*/ >/dev/null 2>&1 || apt-get source openssl/bookworm
OPENSSL_SRC=$(ls -d openssl-3.0.*/ | head -n 1)
OPENSSL_SRC=${OPENSSL_SRC%/}

rm -rf "$W/build" && mkdir -p "$W/build"
cp -a nginx-1.22.1 pcre2-10.42 zlib-1.2.13.dfsg "$OPENSSL_SRC" "$W/build/"
cd "$W/build/nginx-1.22.1"

# 3. Windows-only nginx sources (missing from release tarballs) ----------------------------------
if [ -n "${NGINX_GIT:-}" ]; then
    git -C "$NGINX_GIT" archive release-1.22.1 $WIN32_FILES | tar xf -
else
    tar xzf "$NGINX_WIN32_TARBALL"
fi
test -f src/os/win32/ngx_win32_config.h

# 4. zlib: Debian's dfsg tarball drops zlib's win32/ folder (Files-Excluded), which nginx's
#    win32+gcc rule needs ("make -f win32/Makefile.gcc libz.a"); zlib's ./configure refuses MinGW.
#    Put a minimal replacement there.
mkdir -p ../zlib-1.2.13.dfsg/win32
cat > ../zlib-1.2.13.dfsg/win32/Makefile.gcc <<'ZMK'
# minimal static libz.a for MinGW (replacement for the file Debian strips)
CC = x86_64-w64-mingw32-gcc
AR = $(CC)-ar
CFLAGS = -O2
OBJS = adler32.o compress.o crc32.o deflate.o gzclose.o gzlib.o gzread.o gzwrite.o \
       infback.o inffast.o inflate.o inftrees.o trees.o uncompr.o zutil.o
libz.a: $(OBJS)
	$(AR) rcs $@ $(OBJS)
%.o: %.c
	$(CC) $(CFLAGS) -c -o $@ $<
ZMK

# 5. configure (paths, FD_SETSIZE and modules as in the official nginx/Windows zip, minus mail;
#    select() is the event method, winsock's default FD_SETSIZE is only 64). OpenSSL: nginx runs
#    its ./config with these options; "mingw64" names OpenSSL's Windows x64 GCC target, the
#    prefix picks the cross tools, no-asm avoids needing nasm, no-tests saves build time.
./configure --crossbuild=win32 --with-cc=$HOST-gcc \
    --prefix= --sbin-path=nginx.exe --conf-path=conf/nginx.conf --pid-path=logs/nginx.pid \
    --http-log-path=logs/access.log --error-log-path=logs/error.log \
    --http-client-body-temp-path=temp/client_body_temp --http-proxy-temp-path=temp/proxy_temp \
    --http-fastcgi-temp-path=temp/fastcgi_temp --http-scgi-temp-path=temp/scgi_temp \
    --http-uwsgi-temp-path=temp/uwsgi_temp \
    --with-cc-opt=-DFD_SETSIZE=1024 \
    --with-pcre=../pcre2-10.42 --with-zlib=../zlib-1.2.13.dfsg \
    --with-openssl=../"$OPENSSL_SRC" \
    --with-openssl-opt="mingw64 --cross-compile-prefix=$HOST- no-asm no-tests" \
    --with-http_ssl_module --with-http_v2_module --with-http_realip_module \
    --with-http_addition_module --with-http_sub_module --with-http_dav_module \
    --with-http_stub_status_module --with-http_gunzip_module --with-http_gzip_static_module \
    --with-http_auth_request_module --with-http_secure_link_module --with-http_slice_module \
    --with-stream --with-stream_ssl_module \
    ${NGINX_EXTRA_CONFIGURE:-}

# 6. PCRE2 is built with its autoconf configure, which must be told it is cross-compiling
#    (otherwise it tries to run a .exe test program and stops).
sed -i "s|\./configure --disable-shared|./configure --host=$HOST --disable-shared|" objs/Makefile
grep -q -- "--host=$HOST --disable-shared" objs/Makefile

# 7. nginx 1.22.1 calls SSL_sendfile() (kernel TLS) with a file descriptor wherever OpenSSL defines
#    BIO_get_ktls_send, which OpenSSL 3.0 always does; on Windows the descriptor is a HANDLE and
#    the call does not compile ("passing argument 2 of 'SSL_sendfile' makes integer from
#    pointer"). Kernel TLS exists on Linux and FreeBSD only: leave that path out on win32.
sed -i 's/^#ifdef BIO_get_ktls_send$/#if (defined BIO_get_ktls_send \&\& !(NGX_WIN32))/' src/event/ngx_event_openssl.c
[ "$(grep -c '^#if (defined BIO_get_ktls_send && !(NGX_WIN32))$' src/event/ngx_event_openssl.c)" -eq 3 ]

# 8. build ---------------------------------------------------------------------------------------
make -j"$JOBS"
$HOST-strip -o "$W/out/nginx.exe" objs/nginx.exe
mkdir -p "$W/out/conf" "$W/out/html" "$W/out/logs" "$W/out/temp"
cp -a conf/* "$W/out/conf/"
cp -a html/* "$W/out/html/" 2>/dev/null || true
file "$W/out/nginx.exe" 2>/dev/null || true
# Last, so that an interrupted build is not taken for a finished one.
cp "$W/out/nginx.exe" "$OUT/nginx-ssl.exe.tmp" && mv "$OUT/nginx-ssl.exe.tmp" "$OUT/nginx-ssl.exe"
echo "built: $OUT/nginx-ssl.exe"
