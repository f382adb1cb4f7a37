"""Names that already exist in a macOS osquery core (for conflict checks).

Tables: every spec built for macOS by `specs/CMakeLists.txt` at osquery
a5b14f63d98c (platform-independent specs plus those tagged `macos`).
Other registries: the core plugins osquery registers on macOS
(`REGISTER(...)` calls). An extension may not reuse any of these names:
`registerExtension` answers "Registry item X conflicts with another item
of the same name." (reference §3.2).
"""

OSQUERY_VERSION = "5.16.0"  # the core version the host reports

# Registries known to osquery core (CREATE_REGISTRY / CREATE_LAZY_REGISTRY).
REGISTRIES = frozenset({
    "config", "config_parser", "database", "distributed", "enroll",
    "event_publisher", "event_subscriber", "logger", "numeric_monitoring",
    "osquery_events_stream", "sql", "table",
})

DARWIN_TABLES = frozenset({
    "account_policy_data", "acpi_tables", "ad_config", "alf", "alf_exceptions",
    "alf_explicit_auths", "app_schemes", "apps", "arp_cache", "asl", "augeas",
    "authorization_mechanisms", "authorizations", "authorized_keys",
    "azure_instance_metadata", "azure_instance_tags", "battery", "block_devices",
    "browser_plugins", "carbon_black_info", "carves", "certificate_trust_settings",
    "certificates", "chrome_extension_content_scripts", "chrome_extensions",
    "connected_displays", "cpu_info", "cpu_time", "cpuid", "crashes", "crontab",
    "cups_destinations", "cups_jobs", "curl", "curl_certificate", "device_file",
    "device_firmware", "device_hash", "device_partitions", "disk_encryption",
    "disk_events", "dns_resolvers", "docker_container_envs",
    "docker_container_fs_changes", "docker_container_labels",
    "docker_container_mounts", "docker_container_networks", "docker_container_ports",
    "docker_container_processes", "docker_container_stats", "docker_containers",
    "docker_image_history", "docker_image_labels", "docker_image_layers",
    "docker_images", "docker_info", "docker_network_labels", "docker_networks",
    "docker_version", "docker_volume_labels", "docker_volumes", "es_process_events",
    "es_process_file_events", "etc_hosts", "etc_protocols", "etc_services",
    "event_taps", "extended_attributes", "fan_speed_sensors", "file", "file_events",
    "firefox_addons", "gatekeeper", "gatekeeper_approved_apps", "groups",
    "hardware_events", "hash", "homebrew_packages", "ibridge_info",
    "interface_addresses", "interface_details", "interface_ipv6", "iokit_devicetree",
    "iokit_registry", "jetbrains_plugins", "kernel_extensions", "kernel_info",
    "kernel_panics", "keychain_acls", "keychain_items", "known_hosts", "last",
    "launchd", "launchd_overrides", "listening_ports", "load_average",
    "location_services", "logged_in_users", "magic", "managed_policies", "mdfind",
    "mdls", "memory_array_mapped_addresses", "memory_arrays",
    "memory_device_mapped_addresses", "memory_devices", "memory_error_info", "mounts",
    "nfs_shares", "npm_packages", "nvram", "oem_strings", "os_version",
    "osquery_events", "osquery_extensions", "osquery_flags", "osquery_info",
    "osquery_packs", "osquery_registry", "osquery_schedule", "package_bom",
    "package_install_history", "package_receipts", "password_policy", "pci_devices",
    "platform_info", "plist", "power_sensors", "preferences", "process_envs",
    "process_events", "process_memory_map", "process_open_files",
    "process_open_sockets", "processes", "prometheus_metrics", "python_packages",
    "quicklook_cache", "routes", "running_apps", "safari_extensions", "sandboxes",
    "screenlock", "secureboot", "shared_folders", "sharing_preferences",
    "shell_history", "signature", "sip_config", "smbios_tables", "smc_keys",
    "socket_events", "ssh_configs", "startup_items", "sudoers", "suid_bin",
    "system_controls", "system_extensions", "system_info", "system_profiler",
    "temperature_sensors", "time", "time_machine_backups", "time_machine_destinations",
    "ulimit_info", "unified_log", "uptime", "usb_devices", "user_events",
    "user_groups", "user_interaction_events", "user_ssh_keys", "users",
    "virtual_memory_info", "vscode_extensions", "wifi_networks", "wifi_status",
    "wifi_survey", "xprotect_entries", "xprotect_meta", "xprotect_reports",
    "yara_events", "yara_file", "yara_process", "ycloud_instance_metadata",
})

DARWIN_PLUGINS = {
    "config": frozenset({"filesystem", "tls", "update"}),
    "config_parser": frozenset({"events", "file_paths", "logger", "options", "views", "yara"}),
    "database": frozenset({"ephemeral", "rocksdb"}),
    "distributed": frozenset({"tls"}),
    "enroll": frozenset({"tls"}),
    "event_publisher": frozenset({
        "diskarbitration", "endpointsecurity", "endpointsecurity_fim", "fsevents",
        "iokit", "openbsm", "scnetwork", "syslog",
    }),
    "event_subscriber": frozenset({
        "disk_events", "es_process_events", "es_process_file_events", "file_events",
        "hardware_events", "process_events", "socket_events", "user_events",
        "yara_events",
    }),
    "logger": frozenset({
        "aws_firehose", "aws_kinesis", "filesystem", "kafka_producer", "stdout",
        "syslog", "tls",
    }),
    "sql": frozenset({"sql"}),
}
