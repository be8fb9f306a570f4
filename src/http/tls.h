// TLS for the http module (private header): OpenSSL contexts for clients and the
// server, certificate checks per connection, and errors a person can act on.
#pragma once

#include <boost/asio/ssl/context.hpp>
#include <boost/system/error_code.hpp>
#include <memory>

#include "http/http.h"

typedef struct ssl_st SSL;

namespace aethel::http::tls {

using Context = boost::asio::ssl::context;

// A client context that verifies peers against the system store plus the trust's CA
// file, TLS 1.2 or later. Error "bad_tls_config" when the CA file is unusable.
base::Result<std::shared_ptr<Context>> client_context(const TlsTrust& trust);

// A server context with the certificate chain and key of `files`, TLS 1.2 or later.
// Errors "bad_tls_certificate" / "bad_tls_key" name the file and the reason.
base::Result<std::shared_ptr<Context>> server_context(const ServerTls& files);

// Before a client handshake: SNI for a host name, and the name (or IP address) the
// certificate must carry. False when OpenSSL refused the settings.
bool expect_host(SSL* ssl, const std::string& host);

// The Error for a failed client handshake with `url`: "tls_certificate" with the
// verification result when the certificate was refused, else "tls_error".
base::Error handshake_error(const boost::system::error_code& ec, SSL* ssl, const Url& url);

}  // namespace aethel::http::tls
