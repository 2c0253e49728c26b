"""The SSRF guard's classification, on addresses directly: only globally routable ones pass
(literal IPs resolve to themselves, so nothing here sends traffic)."""

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from agentstudio.netguard import address_refusal, guarded_transport, url_refusal

NOT_GLOBAL = "a private or local address (not globally routable)"

REFUSED = [
    "127.0.0.1",
    "10.1.2.3",
    "172.16.0.1",
    "192.168.1.1",
    "169.254.169.254",  # metadata (AWS, GCP, Azure)
    "100.64.0.1",  # shared address space (carrier-grade NAT)
    "100.100.100.200",  # Alibaba Cloud metadata
    "0.0.0.0",
    "192.0.0.170",
    "198.18.0.1",
    "240.0.0.1",
    "255.255.255.255",
    "224.0.0.1",
    "239.1.1.1",
    "::1",
    "::",
    "fe80::1",
    "fd00:ec2::254",  # AWS metadata over IPv6
    "ff0e::1",
    "::ffff:127.0.0.1",  # IPv4-mapped
    "::ffff:169.254.169.254",
    "::ffff:100.64.0.1",
    "::127.0.0.1",  # IPv4-compatible (deprecated)
    "::8.8.8.8",
    "2002:7f00:1::",  # 6to4 of 127.0.0.1
    "2002:a9fe:a9fe::1",  # 6to4 of 169.254.169.254
    "2002:6440:1::",  # 6to4 of 100.64.0.1
    "2002:c0a8:101::",  # 6to4 of 192.168.1.1
    "2001:0:7f00:1::80ff:fffe",  # Teredo, server and client 127.0.0.1
    "2001:0:4136:e378:8000:63bf:3fff:fdd2",  # Teredo: not routed by us at all
    "64:ff9b::7f00:1",  # NAT64 of 127.0.0.1
    "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
    "64:ff9b::6440:1",  # NAT64 of 100.64.0.1
    "64:ff9b:1::a00:1",  # local-use NAT64
    "64:ff9b:1::808:808",
]

ALLOWED = [
    "8.8.8.8",
    "1.1.1.1",
    "93.184.216.34",
    "2606:4700:4700::1111",
    "2a00:1450:4001:81c::200e",
    "::ffff:8.8.8.8",
    "2002:808:808::",  # 6to4 of 8.8.8.8
    "64:ff9b::808:808",  # NAT64 of 8.8.8.8
]


def _url(address: str) -> str:
    return f"http://[{address}]/" if ":" in address else f"http://{address}/"


@pytest.mark.parametrize("address", REFUSED)
def test_an_address_that_is_not_globally_routable_is_refused(settings, address):
    settings.AGENTSTUDIO_HTTP_ALLOW = []
    assert address_refusal(address) == NOT_GLOBAL
    assert url_refusal(_url(address)).endswith("resolves to " + address_refusal(address))


@pytest.mark.parametrize("address", ALLOWED)
def test_a_globally_routable_address_passes(settings, address):
    settings.AGENTSTUDIO_HTTP_ALLOW = []
    assert address_refusal(address) == ""
    assert url_refusal(_url(address)) == ""


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ftp://8.8.8.8/", "only http(s) URLs with a host are allowed"),
        ("http:///path", "only http(s) URLs with a host are allowed"),
        ("http://8.8.8.8:notaport/", "the URL's port is not a number"),
        ("http://2130706433/", f"2130706433 resolves to {NOT_GLOBAL}"),
        ("http://0x7f000001/", f"0x7f000001 resolves to {NOT_GLOBAL}"),
    ],
)
def test_urls_are_refused_by_scheme_port_and_by_what_the_host_resolves_to(settings, url, reason):
    settings.AGENTSTUDIO_HTTP_ALLOW = []
    assert url_refusal(url) == reason


def test_a_host_listed_in_agentstudio_http_allow_passes(settings):
    settings.AGENTSTUDIO_HTTP_ALLOW = ["127.0.0.1"]
    assert url_refusal("http://127.0.0.1:8080/x") == ""
    assert url_refusal("http://[::ffff:127.0.0.1]/") != ""


class _Hello(BaseHTTPRequestHandler):
    def log_message(self, *args):  # quiet
        pass

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", "5")
        self.end_headers()
        self.wfile.write(b"hello")


@pytest.fixture
def loopback_server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Hello)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield httpd.server_address[1]
    httpd.shutdown()
    httpd.server_close()


def test_the_guarded_transport_checks_the_address_it_connects_to(settings, loopback_server):
    """Checked again at connect time (not only by url_refusal beforehand), so a name that
    resolves differently a moment later (DNS rebinding) cannot reach a private address."""
    settings.AGENTSTUDIO_HTTP_ALLOW = []
    with httpx.Client(transport=guarded_transport()) as client:
        for host in ("127.0.0.1", "localhost", "[::ffff:127.0.0.1]"):
            with pytest.raises(httpx.ConnectError, match="private or local address"):
                client.get(f"http://{host}:{loopback_server}/")
    settings.AGENTSTUDIO_HTTP_ALLOW = ["127.0.0.1"]
    with httpx.Client(transport=guarded_transport()) as client:
        response = client.get(f"http://127.0.0.1:{loopback_server}/")
    assert (response.status_code, response.text) == (200, "hello")
