"""A fake ``rclpy`` (and ROS 2 message packages) following the real API names the fer_edge node uses.

rclpy cannot be installed here (it ships with ROS 2, not PyPI). The fake keeps rclpy's names and call shapes
(``rclpy.init(args=)``, ``rclpy.spin``, ``rclpy.ok``, ``rclpy.shutdown``, ``rclpy.node.Node`` with
``declare_parameter(name, value)`` / ``get_parameter(name).value`` / ``create_subscription(msg_type, topic,
callback, qos_profile)`` / ``create_publisher(msg_type, topic, qos_profile)`` / ``get_logger()`` /
``destroy_node()``, ``rclpy.qos.QoSProfile(history=, depth=, reliability=)`` with ``HistoryPolicy`` and
``ReliabilityPolicy``). The message packages (``sensor_msgs.msg``, ``vision_msgs.msg``, ``foxglove_msgs.msg``...)
hold real message classes from rosbags' type store, so what the node publishes serialises as ROS 2 CDR.

``install_fake_ros(monkeypatch, overrides={"detect_every": 3})`` puts it all in ``sys.modules``; parameter
overrides play the role of ``--ros-args -p name:=value``.
"""

from __future__ import annotations

import enum
import types
from typing import Any, Callable, Dict, List, Optional


class HistoryPolicy(enum.IntEnum):
    SYSTEM_DEFAULT = 0
    KEEP_LAST = 1
    KEEP_ALL = 2


class ReliabilityPolicy(enum.IntEnum):
    SYSTEM_DEFAULT = 0
    RELIABLE = 1
    BEST_EFFORT = 2


class QoSProfile:
    def __init__(self, *, history: HistoryPolicy = HistoryPolicy.KEEP_LAST, depth: Optional[int] = None,
                 reliability: ReliabilityPolicy = ReliabilityPolicy.RELIABLE, **kwargs: Any):
        if history == HistoryPolicy.KEEP_LAST and depth is None:
            raise ValueError("A QoSProfile with KEEP_LAST history needs a depth")  # as rclpy's own check
        self.history, self.depth, self.reliability = history, depth, reliability


class Parameter:
    def __init__(self, name: str, value: Any):
        self.name, self.value = name, value


class Publisher:
    def __init__(self, msg_type: type, topic: str, qos: Any):
        self.msg_type, self.topic, self.qos = msg_type, topic, qos
        self.published: List[Any] = []

    def publish(self, msg: Any) -> None:
        if not isinstance(msg, self.msg_type):  # rclpy raises TypeError for a message of another type
            raise TypeError(f"Expected {self.msg_type.__name__}, got {type(msg).__name__}")
        self.published.append(msg)


class Subscription:
    def __init__(self, msg_type: type, topic: str, callback: Callable[[Any], None], qos: Any):
        self.msg_type, self.topic, self.callback, self.qos = msg_type, topic, callback, qos


class Logger:
    def __init__(self) -> None:
        self.lines: List[str] = []

    def info(self, msg: str) -> None:
        self.lines.append(msg)

    warning = error = debug = info


class State:
    """What the fake ROS graph saw (inspected by tests)."""

    def __init__(self, overrides: Dict[str, Any]):
        self.overrides = dict(overrides)
        self.initialized = False
        self.nodes: List[Any] = []
        self.spin_hook: Optional[Callable[[Any], None]] = None


def install_fake_ros(monkeypatch: Any, overrides: Optional[Dict[str, Any]] = None) -> State:
    """Install fake rclpy + message packages in ``sys.modules``; returns the graph state."""
    import sys

    from fer_edge.ros.messages import ros2_typestore

    state = State(overrides or {})
    store = ros2_typestore()

    class Node:
        def __init__(self, node_name: str, **kwargs: Any):
            if not state.initialized:
                raise RuntimeError("rclpy.init() has not been called")  # rclpy: NotInitializedException
            self._name = node_name
            self._params: Dict[str, Parameter] = {}
            self.publishers: List[Publisher] = []
            self.subscriptions: List[Subscription] = []
            self._logger = Logger()
            self.destroyed = False
            state.nodes.append(self)

        def get_name(self) -> str:
            return self._name

        def declare_parameter(self, name: str, value: Any = None, descriptor: Any = None,
                              ignore_override: bool = False) -> Parameter:
            if name in self._params:
                raise RuntimeError(f"parameter {name} already declared")  # ParameterAlreadyDeclaredException
            given = state.overrides.get(name, value)
            if value is not None and type(given) is not type(value):  # rclpy refuses a value of another type
                raise TypeError(f"parameter {name}: {type(given).__name__} given, {type(value).__name__} declared")
            self._params[name] = Parameter(name, given)
            return self._params[name]

        def get_parameter(self, name: str) -> Parameter:
            return self._params[name]

        def create_publisher(self, msg_type: type, topic: str, qos_profile: Any, **kwargs: Any) -> Publisher:
            pub = Publisher(msg_type, topic, qos_profile)
            self.publishers.append(pub)
            return pub

        def create_subscription(self, msg_type: type, topic: str, callback: Callable[[Any], None],
                                qos_profile: Any, **kwargs: Any) -> Subscription:
            sub = Subscription(msg_type, topic, callback, qos_profile)
            self.subscriptions.append(sub)
            return sub

        def get_logger(self) -> Logger:
            return self._logger

        def destroy_node(self) -> None:
            self.destroyed = True

    rclpy = types.ModuleType("rclpy")

    def init(*, args: Any = None, context: Any = None) -> None:
        state.initialized = True

    def spin(node: Any, executor: Any = None) -> None:
        if state.spin_hook is not None:
            state.spin_hook(node)

    def ok(*, context: Any = None) -> bool:
        return state.initialized

    def shutdown(*, context: Any = None) -> None:
        if not state.initialized:
            raise RuntimeError("rclpy.shutdown() called twice")  # rclpy raises when already shut down
        state.initialized = False

    rclpy.init, rclpy.spin, rclpy.ok, rclpy.shutdown = init, spin, ok, shutdown
    node_mod = types.ModuleType("rclpy.node")
    node_mod.Node = Node
    qos_mod = types.ModuleType("rclpy.qos")
    qos_mod.QoSProfile, qos_mod.HistoryPolicy, qos_mod.ReliabilityPolicy = QoSProfile, HistoryPolicy, ReliabilityPolicy
    rclpy.node, rclpy.qos = node_mod, qos_mod
    modules = {"rclpy": rclpy, "rclpy.node": node_mod, "rclpy.qos": qos_mod}
    for typename, cls in store.types.items():
        package, kind, name = typename.split("/")
        mod_name = f"{package}.{kind}"
        if package not in modules:
            modules[package] = types.ModuleType(package)
        if mod_name not in modules:
            modules[mod_name] = types.ModuleType(mod_name)
            setattr(modules[package], kind, modules[mod_name])
        setattr(modules[mod_name], name, cls)
    for name, module in modules.items():
        monkeypatch.setitem(sys.modules, name, module)
    return state
