import datetime as dt

from cryptography import x509

from controller.core.certificates import ServingCert, make_serving_cert, needs_renewal, service_hosts

HOSTS = service_hosts("kubectl-oras-webhook", "kubectl-oras-system")


def test_a_fresh_certificate_names_every_host_and_needs_no_renewal():
    cert = make_serving_cert(hosts=HOSTS)
    san = x509.load_pem_x509_certificate(cert.cert_pem).extensions.get_extension_for_class(x509.SubjectAlternativeName)
    assert set(san.value.get_values_for_type(x509.DNSName)) == set(HOSTS)
    assert not needs_renewal(cert, hosts=HOSTS)


def test_a_certificate_is_renewed_before_it_expires():
    now = dt.datetime.now(dt.UTC)
    cert = make_serving_cert(hosts=HOSTS, serving_days=40)
    assert not needs_renewal(cert, hosts=HOSTS, now=now)
    assert needs_renewal(cert, hosts=HOSTS, now=now + dt.timedelta(days=11))


def test_a_certificate_for_other_hosts_or_garbage_is_replaced():
    cert = make_serving_cert(hosts=["other.svc"])
    assert needs_renewal(cert, hosts=HOSTS)
    assert needs_renewal(ServingCert(b"junk", b"junk", b"junk"), hosts=HOSTS)


def test_secret_data_round_trips():
    cert = make_serving_cert(hosts=HOSTS)
    assert ServingCert.from_secret_data(cert.secret_data()) == cert
