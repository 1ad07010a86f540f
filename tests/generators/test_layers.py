"""Layer order and merging: installs early, config late, the orders that matter kept."""

from __future__ import annotations

from generators import dockerfile
from generators.dockerfile import layers
from recorder.model import session as s


def step(i, command, replay="files", **effects) -> s.Step:
    return s.Step(id=i, command=command, cwd="/root", exit=0, replay=replay, effects=s.Effects(**effects))


def apt(i, name) -> s.Step:
    return step(
        i, f"apt-get install -y {name}", "run", packages=[s.PackageChange(manager="apt", installed={name: "1.0"})]
    )


def conf(i, path) -> s.Step:
    return step(i, f"vi {path}", files=[s.FileChange(path=path, kind="file", mode=0o644)])


def test_installs_move_before_config_files_and_consecutive_installs_merge():
    session = s.Session(
        name="t",
        steps=[
            conf(1, "/etc/apt/sources.list.d/mirror.list"),  # package-manager config: stays before the installs
            apt(2, "nginx"),
            conf(3, "/etc/nginx/nginx.conf"),  # a config file: moves after the installs
            apt(4, "curl"),
            step(5, "export MODE=prod", env_set={"MODE": "prod"}),
        ],
    )
    plan = layers.group(session)
    assert [[st.id for st in layer.steps] for layer in plan] == [[1], [2, 4], [5], [3]]
    assert plan[1].merged[0].installed == {"nginx": "1.0", "curl": "1.0"}
    text = dockerfile.render(session)
    assert text.count("RUN apt-get update") == 1
    assert "# step 2: apt-get install -y nginx\n# step 4: apt-get install -y curl\n" in text
    assert text.index("mirror.list") < text.index("nginx=1.0") < text.index("ENV MODE") < text.index("nginx.conf")


def test_files_before_a_command_replayed_as_typed_keep_their_place():
    session = s.Session(
        name="t",
        steps=[
            conf(1, "/opt/app/Makefile"),
            step(2, "make -C /opt/app install", "run"),  # may read the Makefile: it must come after it
            conf(3, "/etc/app.conf"),
            apt(4, "curl"),
        ],
    )
    assert [st.id for st in layers.order(session)] == [1, 2, 4, 3]


def test_different_targets_do_not_merge():
    def pip(i, target):
        return step(
            i,
            "pip install x",
            "run",
            packages=[s.PackageChange(manager="pip", installed={f"p{i}": "1"}, target=target)],
        )

    plan = layers.group(s.Session(name="t", steps=[pip(1, "/opt/a"), pip(2, "/opt/b"), pip(3, "/opt/b")]))
    assert [[st.id for st in layer.steps] for layer in plan] == [[1], [2, 3]]
