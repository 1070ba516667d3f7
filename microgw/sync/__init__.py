"""Parent-gateway sync: downloading settings (vendor REST shapes, archives), polling, the disk copy,
and writing archives. It sees the running gateway only as a :class:`~microgw.sync.poller.DownloadTarget`."""
