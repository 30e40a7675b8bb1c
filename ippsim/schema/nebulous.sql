-- Simulated Nebulous database: the volume tables the exporter, neb-host and neb-df touch.
-- Names, types, keys and foreign keys follow the IPP definitions in ps-ipp/ipp-trunk-20250502
-- Nebulous-Server/lib/Nebulous/Server/SQL.pm (__DATA__ section); storage_object, instance and
-- the other object tables are left out (nothing here reads them).
-- Written for this project; statements are separated by ';' at line end (see ippsim/site.py).

CREATE TABLE cabinet (
    cab_id INT NOT NULL AUTO_INCREMENT,
    name VARCHAR(255) NOT NULL,
    site_id INT NOT NULL DEFAULT 0,
    location VARCHAR(255),
    PRIMARY KEY(cab_id),
    UNIQUE KEY(name),
    KEY(site_id),
    KEY(location)
) ENGINE=innodb DEFAULT CHARSET=latin1;

CREATE TABLE volume (
    vol_id INT NOT NULL AUTO_INCREMENT,
    name VARCHAR(255) NOT NULL,
    host VARCHAR(255) NOT NULL,
    path VARCHAR(255) NOT NULL,
    allocate BOOLEAN DEFAULT FALSE,
    available BOOLEAN DEFAULT FALSE,
    xattr BOOLEAN DEFAULT FALSE,
    mountpoint VARCHAR(255) NOT NULL,
    cab_id INT,
    note VARCHAR(255),
    last_modified TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
    PRIMARY KEY(vol_id),
    UNIQUE KEY(name),
    UNIQUE KEY(path),
    KEY(host(16)),
    KEY(allocate),
    KEY(available),
    FOREIGN KEY(cab_id) REFERENCES cabinet(cab_id),
    KEY(mountpoint(255))
) ENGINE=innodb DEFAULT CHARSET=latin1;

CREATE TABLE mountedvol (
    vol_id INT NOT NULL,
    name VARCHAR(255) NOT NULL,
    host VARCHAR(255) NOT NULL,
    path VARCHAR(255) NOT NULL,
    allocate BOOLEAN DEFAULT FALSE,
    available BOOLEAN DEFAULT FALSE,
    xattr BOOLEAN DEFAULT FALSE,
    mountpoint VARCHAR(255) NOT NULL,
    total BIGINT NOT NULL,
    used BIGINT NOT NULL,
    note VARCHAR(255),
    PRIMARY KEY(vol_id),
    KEY(name),
    KEY(host),
    KEY(path),
    KEY(allocate),
    KEY(available),
    KEY(xattr),
    KEY(mountpoint(255)),
    FOREIGN KEY(vol_id) REFERENCES volume(vol_id) ON DELETE CASCADE,
    FOREIGN KEY(path) REFERENCES volume(path) ON DELETE CASCADE,
    FOREIGN KEY(mountpoint) REFERENCES volume(mountpoint) ON DELETE CASCADE
) ENGINE=innodb DEFAULT CHARSET=latin1;
