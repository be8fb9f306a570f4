// Certificates for tests, made with OpenSSL's API: a CA and the leaf certificates
// it signs, for chosen host names and IP addresses, valid now or expired. No
// `openssl` binary and no files unless a test writes them (write_file).
#pragma once

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <memory>
#include <stdexcept>
#include <string>

namespace aethel::test {

struct Pem {
  std::string certificate;
  std::string key;
};

inline void write_file(const std::filesystem::path& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

class TestCa {
 public:
  // A self-signed CA called `name`, valid from an hour ago for ten days.
  explicit TestCa(const std::string& name) : key_(new_key()), cert_(X509_new(), X509_free) {
    X509* x = cert_.get();
    init(x, name, -3600, 10 * 86400);
    X509_set_issuer_name(x, X509_get_subject_name(x));
    add_extension(x, x, NID_basic_constraints, "critical,CA:TRUE");
    add_extension(x, x, NID_key_usage, "critical,keyCertSign,cRLSign");
    add_extension(x, x, NID_subject_key_identifier, "hash");
    sign(x);
  }

  std::string certificate_pem() const { return to_pem(cert_.get()); }

  // A server certificate for `alt_names` ("DNS:localhost,IP:127.0.0.1"), valid from
  // now + not_before_s to now + not_after_s (negative: in the past).
  Pem issue(const std::string& alt_names, long not_before_s = -3600,
            long not_after_s = 86400) const {
    std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(new_key(), EVP_PKEY_free);
    std::unique_ptr<X509, decltype(&X509_free)> cert(X509_new(), X509_free);
    X509* x = cert.get();
    X509_set_pubkey(x, key.get());
    init(x, "test server", not_before_s, not_after_s, key.get());
    X509_set_issuer_name(x, X509_get_subject_name(cert_.get()));
    add_extension(cert_.get(), x, NID_basic_constraints, "critical,CA:FALSE");
    add_extension(cert_.get(), x, NID_ext_key_usage, "serverAuth");
    add_extension(cert_.get(), x, NID_subject_alt_name, alt_names);
    sign(x);
    return Pem{to_pem(x), key_pem(key.get())};
  }

  ~TestCa() { EVP_PKEY_free(key_); }
  TestCa(const TestCa&) = delete;
  TestCa& operator=(const TestCa&) = delete;

 private:
  static EVP_PKEY* new_key() {
    EVP_PKEY* key = EVP_EC_gen("P-256");
    if (key == nullptr) throw std::runtime_error("EVP_EC_gen failed");
    return key;
  }

  void init(X509* x, const std::string& common_name, long not_before_s, long not_after_s,
            EVP_PKEY* public_key = nullptr) const {
    static int64_t serial = 1;
    X509_set_version(x, 2);
    ASN1_INTEGER_set_int64(X509_get_serialNumber(x), serial++);
    X509_gmtime_adj(X509_getm_notBefore(x), not_before_s);
    X509_gmtime_adj(X509_getm_notAfter(x), not_after_s);
    X509_set_pubkey(x, public_key ? public_key : key_);
    X509_NAME* name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                               reinterpret_cast<const unsigned char*>(common_name.c_str()), -1, -1,
                               0);
  }

  static void add_extension(X509* issuer, X509* subject, int nid, const std::string& value) {
    X509V3_CTX context;
    X509V3_set_ctx(&context, issuer, subject, nullptr, nullptr, 0);
    X509_EXTENSION* extension = X509V3_EXT_conf_nid(nullptr, &context, nid, value.c_str());
    if (extension == nullptr) throw std::runtime_error("bad extension " + value);
    X509_add_ext(subject, extension, -1);
    X509_EXTENSION_free(extension);
  }

  void sign(X509* x) const {
    if (X509_sign(x, key_, EVP_sha256()) == 0) throw std::runtime_error("X509_sign failed");
  }

  static std::string drain(BIO* bio) {
    char* data = nullptr;
    long size = BIO_get_mem_data(bio, &data);
    std::string out(data, static_cast<size_t>(size));
    BIO_free(bio);
    return out;
  }
  static std::string to_pem(X509* x) {
    BIO* bio = BIO_new(BIO_s_mem());
    PEM_write_bio_X509(bio, x);
    return drain(bio);
  }
  static std::string key_pem(EVP_PKEY* key) {
    BIO* bio = BIO_new(BIO_s_mem());
    PEM_write_bio_PrivateKey(bio, key, nullptr, nullptr, 0, nullptr, nullptr);
    return drain(bio);
  }

  EVP_PKEY* key_;
  std::unique_ptr<X509, decltype(&X509_free)> cert_;
};

}  // namespace aethel::test
