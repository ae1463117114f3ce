/* stand-in: the restorer accepts both device-model record signatures */
static const char legacy_sig[] = "QemuDeviceModelRecord";
static const char sized_sig[] = "DeviceModelRecord0002";
