"""Services from what a recording left running: process families by start time and lineage, their
sockets by inode or, where another user's fds are closed to us, by what everyone may read, and
their commands from what was typed less what made them daemons. The process tables are what
/proc showed on staging containers with Docker's default capabilities."""

from __future__ import annotations

from recorder.capture import services
from recorder.capture.processes import Proc, Socket
from recorder.capture.services import Window, discover

SHELL, RECORDER = 100, 90
STARTED = 1000.0


def proc(pid, ppid, start, *argv, comm="", uid=0, readable=True, sockets=(), exe=""):
    return Proc(
        pid=pid,
        ppid=ppid,
        uid=uid,
        start=start,
        comm=comm or argv[0].rsplit("/", 1)[-1][:15],
        argv=tuple(argv),
        exe=(exe or f"/usr/bin/{comm or argv[0].rsplit('/', 1)[-1]}") if readable else "",
        sockets=frozenset(sockets),
    )


def tcp(port, inode, uid=0, address="0.0.0.0"):
    return Socket("tcp", address, port, uid, inode)


def run(windows, procs, sockets, port_steps=None):
    table = {p.pid: p for p in procs}
    table[1] = proc(1, 0, 1.0, "sleep", "infinity")
    return discover(
        windows, table, sockets, set(), STARTED, {RECORDER, SHELL}, RECORDER, "/usr/sbin:/usr/bin", port_steps
    )


def test_a_daemon_that_rewrites_its_title_runs_as_it_was_typed_less_its_daemonize_option():
    windows = [Window(1, 1001, "redis-server /etc/redis/redis.conf --daemonize yes", "/root", "root")]
    redis = proc(200, 1, 1001.2, "redis-server 0.0.0.0:6380", *[""] * 24, comm="redis-server", sockets=[7])
    services, warnings, launched = run(windows, [redis], [tcp(6380, 7)])
    [service] = services
    assert service.name == "redis-server" and service.data_dir == "/var/lib/redis"
    assert service.command[1:] == ["/etc/redis/redis.conf", "--daemonize", "no"]
    assert service.command[0].endswith("/redis-server")
    assert [p.port for p in service.ports] == [6380] and launched == {0: 1} and not warnings


def test_gunicorn_from_a_virtualenv_is_known_by_its_script_and_loses_daemon():
    windows = [Window(3, 1003, "./venv/bin/gunicorn -b 0.0.0.0:8000 --daemon app:app", "/srv/api", "root")]
    python = "/srv/api/venv/bin/python3.11"
    master = proc(300, 1, 1003.1, python, "./venv/bin/gunicorn", "-b", "0.0.0.0:8000", "--daemon", "app:app")
    master = Proc(**{**master.__dict__, "comm": "gunicorn", "sockets": frozenset({9})})
    worker = proc(301, 300, 1003.5, python, "./venv/bin/gunicorn", "-b", "0.0.0.0:8000", "--daemon", "app:app")
    [service], _, _ = run(windows, [master, worker], [tcp(8000, 9)])
    assert service.name == "gunicorn"
    assert service.command == ["/srv/api/venv/bin/gunicorn", "-b", "0.0.0.0:8000", "app:app"]
    assert service.cwd == "/srv/api" and service.user == "root"


def test_a_server_started_as_another_user_via_su_and_nohup_is_found_without_reading_its_fds():
    typed = 'su -s /bin/sh web -c "cd /srv/files && nohup python3 -m http.server 9000 &"'
    windows = [Window(4, 1004, typed, "/root", "root"), Window(5, 1006, "curl -s localhost:9000/", "/root", "root")]
    server = proc(400, 1, 1004.3, "python3", "-m", "http.server", "9000", uid=1001, readable=False)
    # the port was first seen after step 5: the server bound after step 4's prompt came back
    services, warnings, launched = run(windows, [server], [tcp(9000, 11, uid=1001)], port_steps={9000: 5})
    [service] = services
    assert service.user == "web" and service.cwd == "/srv/files"
    assert service.command == ["/usr/bin/python3", "-m", "http.server", "9000"]
    assert launched == {0: 4} and not warnings


def test_a_daemon_that_drops_privileges_starts_as_root_as_on_staging():
    windows = [Window(2, 1002, "lighttpd -f /etc/lighttpd/lighttpd.conf", "/", "root")]
    lighttpd = proc(210, 1, 1002.1, "/usr/sbin/lighttpd", "-f", "/etc/lighttpd/lighttpd.conf", uid=33, readable=False)
    [service], _, _ = run(windows, [lighttpd], [tcp(80, 5, uid=0)])
    assert service.user == "root" and service.name == "lighttpd"
    assert service.command == ["/usr/sbin/lighttpd", "-f", "/etc/lighttpd/lighttpd.conf", "-D"]


def test_an_init_script_start_runs_the_daemon_with_its_own_options_in_the_foreground():
    windows = [Window(1, 1001, "service nginx start", "/root", "root")]
    title = ("nginx: master process /usr/sbin/nginx -c /etc/nginx/site.conf -g daemon on; master_process on;",)
    master = proc(220, 1, 1001.4, *title, comm="nginx", sockets=[3])
    worker = proc(221, 220, 1001.5, "nginx: worker process", comm="nginx", uid=33, readable=False)
    [service], _, _ = run(windows, [master, worker], [tcp(8080, 3)])
    assert service.command == ["/usr/sbin/nginx", "-c", "/etc/nginx/site.conf", "-g", "daemon off;"]
    assert service.cwd == "/" and service.user == "root"


def test_a_service_without_a_tcp_port_is_still_a_service_and_helpers_left_by_installs_are_not():
    windows = [
        Window(1, 1001, "apt-get install -y php8.2-fpm", "/root", "root"),
        Window(2, 1020, "service php8.2-fpm start", "/root", "root"),
    ]
    agent = proc(230, 1, 1005, "gpg-agent", "--homedir", "/etc/apt/trusted.gpg.d", "--daemon")
    title = "php-fpm: master process (/etc/php/8.2/fpm/php-fpm.conf)"
    fpm = proc(231, 1, 1020.2, title, comm="php-fpm8.2", sockets=[44], exe="/usr/sbin/php-fpm8.2")
    services, _, launched = run(windows, [agent, fpm], [Socket("unix", "/run/php/php8.2-fpm.sock", 0, -1, 44)])
    [service] = services
    assert service.name == "php-fpm" and service.ports == []
    assert service.command == ["/usr/sbin/php-fpm8.2", "-y", "/etc/php/8.2/fpm/php-fpm.conf", "-F"]
    assert launched == {0: 2}


def test_the_operators_own_supervisord_is_the_service_and_its_programs_ports_are_its_own():
    windows = [Window(6, 1010, "/opt/sup/bin/supervisord -c /etc/supervisord.conf", "/root", "root")]
    sup = proc(500, 1, 1010.2, "/opt/sup/bin/python3", "/opt/sup/bin/supervisord", "-c", "/etc/supervisord.conf")
    sup = Proc(**{**sup.__dict__, "comm": "supervisord"})
    nginx = proc(501, 500, 1010.4, "nginx: master process /usr/sbin/nginx -g daemon off;", comm="nginx", sockets=[1])
    app = proc(502, 500, 1010.4, "/usr/bin/python3", "/srv/app/app.py", uid=1001, readable=False)
    [service], warnings, _ = run(windows, [sup, nginx, app], [tcp(80, 1), tcp(8000, 2, uid=1001)])
    assert service.name == "supervisord"
    assert service.command == ["/opt/sup/bin/supervisord", "-c", "/etc/supervisord.conf", "-n"]
    assert [p.port for p in service.ports] == [80, 8000] and not warnings


def test_a_listener_nobody_can_be_matched_to_still_gets_the_typed_command_and_a_warning():
    windows = [
        Window(1, 1001, "su app -c 'nohup node /srv/a.js &'", "/root", "root"),
        Window(2, 1002, "su app -c 'nohup node /srv/b.js &'", "/root", "root"),
    ]
    a = proc(600, 1, 1001.1, "node", "/srv/a.js", uid=1001, readable=False)
    b = proc(601, 1, 1002.1, "node", "/srv/b.js", uid=1001, readable=False)
    services, warnings, _ = run(windows, [a, b], [tcp(3000, 8, uid=1001)], port_steps={3000: 2})
    assert any("3000" in w for w in warnings)
    served = [s for s in services if s.ports]
    assert [s.command[1:] for s in served] == [["/srv/b.js"]] and served[0].user == "app"
    assert len(services) == 2  # a.js still runs, with no port


def test_a_unit_enabled_with_now_runs_its_execstart_as_its_user_in_its_directory_with_its_environment(
    tmp_path, monkeypatch
):
    units = tmp_path / "system"
    units.mkdir()
    (tmp_path / "app.env").write_text('# defaults\nGREETING="hello from a file"\nLEVEL=info # not a comment\n')
    (units / "app.service").write_text(
        "[Unit]\nDescription=app\n\n[Service]\nUser=app\nWorkingDirectory=/srv/app\n"
        'Environment="APP_MODE=production" PORT=5000\n'
        f"EnvironmentFile=-{tmp_path}/app.env\nEnvironmentFile=-{tmp_path}/missing.env\n"
        "ExecStart=/usr/bin/python3 -m http.server 5000\n\n[Install]\nWantedBy=multi-user.target\n"
    )
    monkeypatch.setattr(services, "UNIT_DIRS", (str(units),))
    windows = [Window(1, 1001, "systemctl enable --now app", "/root", "root")]
    server = proc(300, 1, 1001.4, "/usr/bin/python3", "-m", "http.server", "5000", uid=1001, readable=False)
    [service], _, launched = run(windows, [server], [tcp(5000, 9, uid=1001)])
    assert service.command == ["/usr/bin/python3", "-m", "http.server", "5000"]
    assert (service.user, service.cwd) == ("app", "/srv/app")
    assert service.env == {
        "APP_MODE": "production",
        "PORT": "5000",
        "GREETING": "hello from a file",
        "LEVEL": "info # not a comment",
    }
    assert [p.port for p in service.ports] == [5000] and launched == {0: 1}


def test_a_list_run_in_the_background_is_its_server_not_the_shell_s_fork_that_waits_for_it():
    """`cd /srv/rb && sudo -u rb nohup ruby server.rb &`: bash forks itself to run the list."""
    shell_argv = ("/usr/bin/bash", "--rcfile", "/tmp/record-1/bashrc", "-i")
    windows = [Window(1, 1001, "cd /srv/rb && sudo -u rb nohup ruby server.rb >/dev/null 2>&1 &", "/root", "root")]
    shell = proc(SHELL, RECORDER, 999.0, *shell_argv, comm="bash")
    fork = proc(201, SHELL, 1001.1, *shell_argv, comm="bash")
    sudo = proc(202, 201, 1001.2, "sudo", "-u", "rb", "nohup", "ruby", "server.rb")
    ruby = proc(203, 202, 1001.3, "ruby", "server.rb", uid=1001, readable=False)
    [service], warnings, _ = run(windows, [shell, fork, sudo, ruby], [tcp(4567, 11, uid=1001)])
    assert service.name == "ruby" and service.command[-1] == "server.rb"
    assert (service.user, service.cwd) == ("rb", "/srv/rb")
    assert [p.port for p in service.ports] == [4567] and not warnings
    # once the recorded shell has exited, its fork is known by the recorder's rcfile
    orphan = proc(201, 1, 1001.1, *shell_argv, comm="bash")
    table = {p.pid: p for p in (orphan, sudo, ruby)}
    table[1] = proc(1, 0, 1.0, "sleep", "infinity")
    found, _, _ = discover(
        windows,
        table,
        [tcp(4567, 11, uid=1001)],
        set(),
        STARTED,
        {RECORDER},
        RECORDER,
        "/usr/bin",
        None,
        "/tmp/record-1/bashrc",
    )
    assert [s.name for s in found] == ["ruby"]


def test_the_users_recorded_are_those_of_what_the_image_runs_not_of_the_launcher_around_it(tmp_path, monkeypatch):
    """`service mariadb start`: mysqld_safe (root) and logger (root) around mariadbd (mysql); the unit's
    ExecStart runs mariadbd alone, so only its users are asked of the image."""
    units = tmp_path / "system"
    units.mkdir()
    (units / "mariadb.service").write_text("[Service]\nType=notify\nUser=mysql\nExecStart=/usr/sbin/mariadbd\n")
    monkeypatch.setattr(services, "UNIT_DIRS", (str(units),))
    windows = [Window(1, 1001, "service mariadb start", "/root", "root")]
    safe = proc(300, 1, 1001.2, "/bin/sh", "/usr/bin/mysqld_safe", comm="mysqld_safe")
    mariadbd = proc(301, 300, 1001.3, "/usr/sbin/mariadbd", "--user=mysql", uid=105, readable=False)
    logger = proc(302, 300, 1001.3, "logger", "-t", "mysqld", uid=0)
    [service], _, _ = run(windows, [safe, mariadbd, logger], [tcp(3306, 5, uid=105)])
    assert service.command == ["/usr/sbin/mariadbd"] and service.user == "mysql"
    assert list(service.processes) == ["mariadbd"]
