"""rpm's answers as the recorder reads them, from real output captured on the RHEL-like bench
(tests/rpmbench: rpm 4.18 with its database at /var/lib/rpm), and what a step's change becomes."""

from __future__ import annotations

from recorder.managers import registry, yum
from recorder.managers.base import INSTALL, Request
from recorder.model.session import PackageChange

# `rpm -qa --qf QUERY` after `yum install -y greeter-extras` on the bench
QA = (
    "bench-release\t(none)\t7\t1\tnoarch\n"
    "greeter-common\t2\t1.4\t3.el7\tnoarch\n"
    "greeter\t(none)\t2.1\t1.el7\tnoarch\n"
    "greeter-extras\t(none)\t0.9\t2.el7\tnoarch\n"
)
# `rpm -V --nodeps --noscripts greeter greeter-common greeter-extras` after: the %config file edited with
# sed, the banner touched, extras.txt removed, the program chmod 600
VERIFY = (
    "S.5....T.  c /etc/greeter.conf\n"
    ".M.......    /usr/bin/greeter\n"
    ".......T.    /usr/share/greeter/banner.txt\n"
    "missing     /usr/share/greeter/extras.txt\n"
)


def test_rpm_qa_gives_each_package_its_evra_with_the_epoch_where_it_has_one():
    assert yum.rpm_versions(QA) == {
        "bench-release": "7-1.noarch",
        "greeter": "2.1-1.el7.noarch",
        "greeter-common": "2:1.4-3.el7.noarch",
        "greeter-extras": "0.9-2.el7.noarch",
    }


def test_signing_keys_are_no_packages_and_multilib_names_carry_their_arch():
    text = (
        "gpg-pubkey\t(none)\tf4a80eb5\t53a7ff4b\t(none)\n"
        "glibc\t(none)\t2.17\t317.el7\tx86_64\n"
        "glibc\t(none)\t2.17\t317.el7\ti686\n"
        "nginx\t1\t1.20.1\t10.el7\tx86_64\n"
    )
    versions = yum.rpm_versions(text)
    assert versions == {
        "glibc.i686": "2.17-317.el7.i686",
        "glibc.x86_64": "2.17-317.el7.x86_64",
        "nginx": "1:1.20.1-10.el7.x86_64",
    }
    assert [yum.nevra(n, v) for n, v in sorted(versions.items())] == [
        "glibc-2.17-317.el7.i686",
        "glibc-2.17-317.el7.x86_64",
        "nginx-1:1.20.1-10.el7.x86_64",
    ]


def test_a_yum_install_is_what_was_asked_for_plus_its_dependencies_with_the_repo_options():
    before = yum.rpm_versions(QA.replace("greeter-extras\t(none)\t0.9\t2.el7\tnoarch\n", ""))
    before = {n: v for n, v in before.items() if n == "bench-release"}
    after = yum.rpm_versions(QA)
    typed = [Request("yum", INSTALL, ("greeter-extras",), ("--enablerepo=bench-extra",), "yum")]
    change = yum.change_between(before, after, typed)
    assert change == PackageChange(
        manager="yum",
        installed={"greeter-extras": "0.9-2.el7.noarch"},
        dependencies={"greeter": "2.1-1.el7.noarch", "greeter-common": "2:1.4-3.el7.noarch"},
        options=["--enablerepo=bench-extra"],
    )
    assert yum.change_between(after, after, typed) is None


def test_an_install_nobody_typed_is_yum_s_and_all_of_it_is_asked_for():
    before, after = {}, yum.rpm_versions(QA)
    assert yum.change_between(before, after, [], "centos").manager == "yum"
    assert yum.change_between(before, after, [], "fedora").manager == "dnf"
    by_path = [Request("dnf", INSTALL, ("/usr/bin/greeter",), (), "dnf")]  # installed by what it provides
    change = yum.change_between(before, after, by_path)
    assert change.manager == "dnf" and change.installed == after and change.dependencies == {}
    removed = yum.change_between(after, {"bench-release": "7-1.noarch"}, [])
    assert removed.removed == ["greeter", "greeter-common", "greeter-extras"] and not removed.installed


def test_the_replay_pins_every_package_to_its_nevra_and_cleans_in_the_same_run():
    change = PackageChange(
        manager="yum",
        installed={"greeter-extras": "0.9-2.el7.noarch"},
        dependencies={"greeter-common": "2:1.4-3.el7.noarch"},
        options=["--enablerepo=bench-extra"],
    )
    assert registry.install(change) == [
        "RUN yum install -y --enablerepo=bench-extra \\\n"
        "      greeter-common-2:1.4-3.el7.noarch \\\n"
        "      greeter-extras-0.9-2.el7.noarch \\\n"
        " && yum clean all && rm -rf /var/cache/yum"
    ]


def test_rpm_v_names_the_files_that_differ_and_only_size_digest_or_absence_is_a_content_change():
    flags = yum.verify_changed(VERIFY + "error: some warning about /var/lib/rpm\n")
    assert flags == {
        "/etc/greeter.conf": "S.5....T.",
        "/usr/bin/greeter": ".M.......",
        "/usr/share/greeter/banner.txt": ".......T.",
        "/usr/share/greeter/extras.txt": "missing",
    }
    assert {p for p, f in flags.items() if yum.content_changed(f)} == {
        "/etc/greeter.conf",
        "/usr/share/greeter/extras.txt",
    }


def test_verify_asks_the_image_s_rpm_for_yum_and_dnf_packages():
    command, read = registry.query("yum")
    assert command == ("rpm", "-qa", "--qf", yum.QUERY) and registry.query("dnf")[0] == command
    assert read(QA)["greeter-common"] == "2:1.4-3.el7.noarch"
    assert registry.query("apt") is None and registry.database("yum", "") is None


EPEL = "https://dl.fedoraproject.org/pub/epel/epel-release-latest-7.noarch.rpm"


def test_a_package_installed_from_a_url_is_replayed_by_yum_from_that_url():
    after = {"epel-release": "7-14.noarch"}
    by_rpm = yum.change_between({}, after, registry.parse(f"rpm -Uvh {EPEL}"), "centos")
    assert (by_rpm.manager, by_rpm.installed, by_rpm.options) == ("yum", after, ["--nogpgcheck", EPEL])
    assert registry.install(by_rpm) == [
        f"RUN yum install -y --nogpgcheck {EPEL} \\\n      epel-release-7-14.noarch \\\n"
        " && yum clean all && rm -rf /var/cache/yum"
    ]
    by_dnf = yum.change_between({}, after, registry.parse(f"dnf install -y {EPEL}"))
    assert (by_dnf.manager, by_dnf.options) == ("dnf", [EPEL])  # dnf checks signatures, as typed
    local = yum.change_between({}, after, registry.parse("rpm -ivh ./epel-release-7-14.noarch.rpm"))
    assert local.manager == "rpm" and not registry.replayable("rpm")  # a local file is not in the session
