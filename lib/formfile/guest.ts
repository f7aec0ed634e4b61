/** The systemd unit that runs a Formfile's ENTRYPOINT inside its VM (built by node-agent/image). */
export const ENTRYPOINT_UNIT = "formation-entrypoint.service";
