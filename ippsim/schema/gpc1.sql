-- Simulated IPP processing database (gpc1, gpc2, ...): the tables the exporter and the tool
-- stand-ins touch. Names, types, keys, indexes and foreign keys follow the IPP definitions in
-- ps-ipp/ipp-trunk-20250502 ippTools/share/pxadmin_create_tables.sql; wide per-table statistics
-- columns (iq_*, m1_*, maskfrac_*, ...) that nothing here reads are left out.
-- Written for this project; statements are separated by ';' at line end (see ippsim/site.py).

CREATE TABLE dbversion (
    schema_version VARCHAR(64),
    updated TIMESTAMP DEFAULT CURRENT_TIMESTAMP
) ENGINE=innodb DEFAULT CHARSET=latin1;

CREATE TABLE Label (
    label VARCHAR(64),
    priority INT,
    active TINYINT,
    comment VARCHAR(80),
    PRIMARY KEY(label),
    KEY(priority),
    KEY(active)
) ENGINE=innodb DEFAULT CHARSET=latin1;

-- ---------------------------------------------------------------- summit copy / registration
CREATE TABLE summitExp (
    summit_id BIGINT NOT NULL AUTO_INCREMENT,
    exp_name VARCHAR(64),
    camera VARCHAR(64),
    telescope VARCHAR(64),
    dateobs DATETIME,
    exp_type VARCHAR(64),
    uri VARCHAR(255),
    imfiles INT,
    fault SMALLINT NOT NULL,
    epoch TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    PRIMARY KEY(summit_id),
    KEY(exp_name, camera, telescope),
    KEY(fault)
) ENGINE=innodb DEFAULT CHARSET=latin1;

CREATE TABLE summitImfile (
    summit_id BIGINT,
    exp_name VARCHAR(64),
    camera VARCHAR(64),
    telescope VARCHAR(64),
    file_id VARCHAR(64),
    bytes INT,
    md5sum VARCHAR(32),
    class VARCHAR(64),
    class_id VARCHAR(64),
    uri VARCHAR(255),
    epoch TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    PRIMARY KEY(summit_id, class, class_id),
    KEY(exp_name, camera, telescope, class, class_id),
    KEY(file_id),
    FOREIGN KEY(summit_id) REFERENCES summitExp(summit_id),
    FOREIGN KEY(exp_name, camera, telescope) REFERENCES summitExp(exp_name, camera, telescope)
) ENGINE=innodb DEFAULT CHARSET=latin1;

CREATE TABLE pzDownloadExp (
    summit_id BIGINT,
    exp_name VARCHAR(64),
    camera VARCHAR(64),
    telescope VARCHAR(64),
    state VARCHAR(64),
    epoch TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    PRIMARY KEY(summit_id),
    KEY(exp_name, camera, telescope),
    KEY(state),
    FOREIGN KEY(summit_id) REFERENCES summitExp(summit_id),
    FOREIGN KEY(exp_name, camera, telescope) REFERENCES summitExp(exp_name, camera, telescope)
) ENGINE=innodb DEFAULT CHARSET=latin1;

CREATE TABLE pzDownloadImfile (
    summit_id BIGINT,
    exp_name VARCHAR(64),
    camera VARCHAR(64),
    telescope VARCHAR(64),
    class VARCHAR(64),
    class_id VARCHAR(64),
    uri VARCHAR(255),
    fault SMALLINT NOT NULL,
    epoch TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    hostname VARCHAR(64),
    bytes INT,
    md5sum VARCHAR(32),
    PRIMARY KEY(summit_id, class, class_id),
    KEY(exp_name, camera, telescope, class, class_id),
    KEY(fault),
    FOREIGN KEY(summit_id) REFERENCES pzDownloadExp(summit_id),
    FOREIGN KEY(summit_id, class, class_id) REFERENCES summitImfile(summit_id, class, class_id),
    FOREIGN KEY(exp_name, camera, telescope) REFERENCES pzDownloadExp(exp_name, camera, telescope),
    FOREIGN KEY(exp_name, camera, telescope, class, class_id)
        REFERENCES summitImfile(exp_name, camera, telescope, class, class_id)
) ENGINE=innodb DEFAULT CHARSET=latin1;

CREATE TABLE newExp (
    exp_id BIGINT AUTO_INCREMENT,
    summit_id BIGINT,
    tmp_exp_name VARCHAR(64),
    tmp_camera VARCHAR(64),
    tmp_telescope VARCHAR(64),
    state VARCHAR(64),
    workdir VARCHAR(255),
    workdir_state VARCHAR(64),
    reduction VARCHAR(64),
    dvodb VARCHAR(255),
    tess_id VARCHAR(64),
    end_stage VARCHAR(64),
    label VARCHAR(64),
    epoch TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    PRIMARY KEY(exp_id),
    KEY(exp_id),
    KEY(summit_id),
    KEY(tmp_exp_name),
    KEY(tmp_camera),
    KEY(tmp_telescope),
    KEY(state),
    KEY(workdir_state),
    KEY(end_stage),
    KEY(label)
) ENGINE=innodb DEFAULT CHARSET=latin1;

CREATE TABLE newImfile (
    exp_id BIGINT,
    tmp_class_id VARCHAR(64),
    uri VARCHAR(255),
    epoch TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    bytes INT,
    md5sum VARCHAR(32),
    PRIMARY KEY(exp_id, tmp_class_id),
    FOREIGN KEY(exp_id) REFERENCES newExp(exp_id)
) ENGINE=innodb DEFAULT CHARSET=latin1;

CREATE TABLE rawExp (
    exp_id BIGINT,
    exp_name VARCHAR(64),
    camera VARCHAR(64),
    telescope VARCHAR(64),
    dateobs DATETIME,
    exp_tag VARCHAR(255),
    exp_type VARCHAR(64),
    filelevel VARCHAR(64),
    workdir VARCHAR(255),
    state VARCHAR(64),
    reduction VARCHAR(64),
    dvodb VARCHAR(255),
    tess_id VARCHAR(64),
    end_stage VARCHAR(64),
    filter VARCHAR(64),
    comment VARCHAR(80),
    obs_mode VARCHAR(64),
    obs_group VARCHAR(64),
    airmass FLOAT,
    ra DOUBLE,
    decl DOUBLE,
    exp_time FLOAT,
    object VARCHAR(64),
    hostname VARCHAR(64),
    fault SMALLINT NOT NULL,
    epoch TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    magicked BIGINT,
    PRIMARY KEY(exp_id),
    KEY(end_stage),
    KEY(fault),
    KEY(state),
    KEY(exp_name),
    FOREIGN KEY(exp_id) REFERENCES newExp(exp_id)
) ENGINE=innodb DEFAULT CHARSET=latin1;

CREATE TABLE rawImfile (
    exp_id BIGINT,
    exp_name VARCHAR(64),
    camera VARCHAR(64),
    telescope VARCHAR(64),
    dateobs DATETIME,
    tmp_class_id VARCHAR(64),
    class_id VARCHAR(64),
    uri VARCHAR(255),
    data_state VARCHAR(64),
    exp_type VARCHAR(64),
    filelevel VARCHAR(64),
    filter VARCHAR(64),
    comment VARCHAR(80),
    obs_mode VARCHAR(64),
    exp_time FLOAT,
    object VARCHAR(64),
    ignored TINYINT DEFAULT 0,
    hostname VARCHAR(64),
    quality SMALLINT NOT NULL DEFAULT 0,
    fault SMALLINT NOT NULL,
    epoch TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    raw_image_id BIGINT AUTO_INCREMENT,
    magicked BIGINT,
    bytes INT,
    md5sum VARCHAR(32),
    burntool_state SMALLINT,
    video_cells TINYINT DEFAULT 0,
    PRIMARY KEY(exp_id, class_id),
    KEY(tmp_class_id),
    KEY(fault),
    KEY(raw_image_id),
    KEY(quality),
    KEY(dateobs),
    UNIQUE KEY(exp_id, tmp_class_id),
    FOREIGN KEY(exp_id, tmp_class_id) REFERENCES newImfile(exp_id, tmp_class_id)
) ENGINE=innodb DEFAULT CHARSET=latin1;

-- ---------------------------------------------------------------- chip
CREATE TABLE chipRun (
    chip_id BIGINT AUTO_INCREMENT,
    exp_id BIGINT,
    state VARCHAR(64),
    workdir VARCHAR(255),
    workdir_state VARCHAR(64),
    label VARCHAR(64),
    data_group VARCHAR(64),
    dist_group VARCHAR(64),
    reduction VARCHAR(64),
    expgroup VARCHAR(64),
    dvodb VARCHAR(255),
    tess_id VARCHAR(64),
    end_stage VARCHAR(64),
    magicked BIGINT,
    software_ver VARCHAR(16),
    update_mode SMALLINT DEFAULT 0,
    note VARCHAR(255),
    PRIMARY KEY(chip_id),
    KEY(chip_id),
    KEY(exp_id),
    KEY(state),
    KEY(workdir_state),
    KEY(label),
    KEY(data_group),
    KEY(dist_group),
    KEY(expgroup),
    KEY(end_stage),
    INDEX(chip_id, exp_id),
    FOREIGN KEY(exp_id) REFERENCES rawExp(exp_id)
) ENGINE=innodb DEFAULT CHARSET=latin1;

CREATE TABLE chipImfile (
    chip_id BIGINT,
    class_id VARCHAR(64),
    chip_imfile_id BIGINT AUTO_INCREMENT,
    PRIMARY KEY(chip_id, class_id),
    KEY(chip_imfile_id),
    FOREIGN KEY(chip_id) REFERENCES chipRun(chip_id)
) ENGINE=innodb DEFAULT CHARSET=latin1;

CREATE TABLE chipProcessedImfile (
    chip_id BIGINT,
    exp_id BIGINT,
    class_id VARCHAR(64),
    data_state VARCHAR(64),
    uri VARCHAR(255),
    bg FLOAT,
    bg_stdev FLOAT,
    dtime_detrend FLOAT,
    dtime_photom FLOAT,
    dtime_total FLOAT,
    dtime_script FLOAT,
    hostname VARCHAR(64),
    n_stars INT,
    path_base VARCHAR(255),
    quality SMALLINT NOT NULL DEFAULT 0,
    fault SMALLINT NOT NULL,
    magicked BIGINT,
    software_ver VARCHAR(16),
    PRIMARY KEY(chip_id, exp_id, class_id),
    KEY(data_state),
    KEY(fault),
    KEY(quality),
    FOREIGN KEY(chip_id, exp_id) REFERENCES chipRun(chip_id, exp_id),
    FOREIGN KEY(exp_id, class_id) REFERENCES rawImfile(exp_id, class_id)
) ENGINE=innodb DEFAULT CHARSET=latin1;

-- ---------------------------------------------------------------- camera
CREATE TABLE camRun (
    cam_id BIGINT AUTO_INCREMENT,
    chip_id BIGINT,
    state VARCHAR(64),
    workdir VARCHAR(255),
    workdir_state VARCHAR(64),
    label VARCHAR(64),
    data_group VARCHAR(64),
    dist_group VARCHAR(64),
    reduction VARCHAR(64),
    expgroup VARCHAR(64),
    dvodb VARCHAR(255),
    tess_id VARCHAR(64),
    end_stage VARCHAR(64),
    magicked BIGINT,
    software_ver VARCHAR(16),
    note VARCHAR(255),
    PRIMARY KEY(cam_id),
    KEY(cam_id),
    KEY(chip_id),
    KEY(state),
    KEY(workdir_state),
    KEY(label),
    KEY(data_group),
    KEY(dist_group),
    KEY(expgroup),
    KEY(end_stage),
    INDEX(cam_id, chip_id),
    FOREIGN KEY(chip_id) REFERENCES chipRun(chip_id)
) ENGINE=innodb DEFAULT CHARSET=latin1;

CREATE TABLE camProcessedExp (
    cam_id BIGINT,
    uri VARCHAR(255),
    bg FLOAT,
    bg_stdev FLOAT,
    dtime_script FLOAT,
    hostname VARCHAR(64),
    n_stars INT,
    path_base VARCHAR(255),
    fault SMALLINT NOT NULL,
    software_ver VARCHAR(16),
    quality SMALLINT NOT NULL DEFAULT 0,
    PRIMARY KEY(cam_id),
    KEY(fault),
    KEY(quality),
    FOREIGN KEY(cam_id) REFERENCES camRun(cam_id)
) ENGINE=innodb DEFAULT CHARSET=latin1;

-- ---------------------------------------------------------------- fake
CREATE TABLE fakeRun (
    fake_id BIGINT AUTO_INCREMENT,
    cam_id BIGINT,
    state VARCHAR(64),
    workdir VARCHAR(255),
    label VARCHAR(64),
    data_group VARCHAR(64),
    dist_group VARCHAR(64),
    reduction VARCHAR(64),
    expgroup VARCHAR(64),
    dvodb VARCHAR(255),
    tess_id VARCHAR(64),
    end_stage VARCHAR(64),
    epoch TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    note VARCHAR(255),
    PRIMARY KEY(fake_id),
    KEY(cam_id),
    KEY(state),
    KEY(label),
    KEY(data_group),
    KEY(dist_group),
    KEY(expgroup),
    KEY(end_stage),
    INDEX(fake_id, cam_id),
    FOREIGN KEY(cam_id) REFERENCES camRun(cam_id)
) ENGINE=innodb DEFAULT CHARSET=latin1;

CREATE TABLE fakeProcessedImfile (
    fake_id BIGINT AUTO_INCREMENT,
    exp_id BIGINT,
    class_id VARCHAR(64),
    uri VARCHAR(255),
    dtime_fake FLOAT,
    dtime_script FLOAT,
    hostname VARCHAR(64),
    path_base VARCHAR(255),
    data_state VARCHAR(64),
    fault SMALLINT NOT NULL,
    epoch TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    PRIMARY KEY(fake_id, exp_id, class_id),
    KEY(fault),
    FOREIGN KEY(fake_id) REFERENCES fakeRun(fake_id),
    FOREIGN KEY(exp_id, class_id) REFERENCES rawImfile(exp_id, class_id)
) ENGINE=innodb DEFAULT CHARSET=latin1;

-- ---------------------------------------------------------------- warp
CREATE TABLE warpRun (
    warp_id BIGINT AUTO_INCREMENT,
    fake_id BIGINT,
    mode VARCHAR(64),
    state VARCHAR(64),
    workdir VARCHAR(255),
    workdir_state VARCHAR(64),
    label VARCHAR(64),
    data_group VARCHAR(64),
    dist_group VARCHAR(64),
    dvodb VARCHAR(255),
    tess_id VARCHAR(64),
    reduction VARCHAR(64),
    end_stage VARCHAR(64),
    registered DATETIME,
    magicked BIGINT,
    software_ver VARCHAR(16),
    note VARCHAR(255),
    PRIMARY KEY(warp_id),
    KEY(warp_id),
    KEY(fake_id),
    KEY(mode),
    KEY(state),
    KEY(workdir_state),
    KEY(label),
    KEY(data_group),
    KEY(dist_group),
    KEY(end_stage),
    INDEX(warp_id, fake_id),
    FOREIGN KEY(fake_id) REFERENCES fakeRun(fake_id)
) ENGINE=innodb DEFAULT CHARSET=latin1;

CREATE TABLE warpSkyCellMap (
    warp_id BIGINT,
    skycell_id VARCHAR(64),
    tess_id VARCHAR(64),
    class_id VARCHAR(64),
    fault SMALLINT,
    PRIMARY KEY(warp_id, skycell_id, tess_id, class_id),
    KEY(fault),
    FOREIGN KEY(warp_id) REFERENCES warpRun(warp_id)
) ENGINE=innodb DEFAULT CHARSET=latin1;

CREATE TABLE warpSkyfile (
    warp_id BIGINT,
    skycell_id VARCHAR(64),
    tess_id VARCHAR(64),
    uri VARCHAR(255),
    path_base VARCHAR(255),
    data_state VARCHAR(64),
    bg DOUBLE,
    bg_stdev DOUBLE,
    dtime_warp FLOAT,
    dtime_script FLOAT,
    hostname VARCHAR(64),
    good_frac FLOAT,
    quality SMALLINT NOT NULL DEFAULT 0,
    fault SMALLINT,
    magicked BIGINT,
    software_ver VARCHAR(16),
    PRIMARY KEY(warp_id, skycell_id, tess_id),
    KEY(good_frac),
    KEY(fault),
    KEY(quality),
    KEY(data_state),
    FOREIGN KEY(warp_id, skycell_id, tess_id) REFERENCES warpSkyCellMap(warp_id, skycell_id, tess_id)
) ENGINE=innodb DEFAULT CHARSET=latin1;

-- ---------------------------------------------------------------- stack
CREATE TABLE stackRun (
    stack_id BIGINT AUTO_INCREMENT,
    state VARCHAR(64),
    workdir VARCHAR(255),
    label VARCHAR(64),
    data_group VARCHAR(64),
    dist_group VARCHAR(64),
    reduction VARCHAR(64),
    dvodb VARCHAR(255),
    registered DATETIME,
    skycell_id VARCHAR(64),
    tess_id VARCHAR(64),
    filter VARCHAR(64),
    software_ver VARCHAR(16),
    note VARCHAR(255),
    PRIMARY KEY(stack_id),
    KEY(stack_id),
    KEY(state),
    KEY(skycell_id),
    KEY(tess_id),
    KEY(label),
    KEY(data_group),
    KEY(dist_group)
) ENGINE=innodb DEFAULT CHARSET=latin1;

CREATE TABLE stackInputSkyfile (
    stack_id BIGINT,
    warp_id BIGINT,
    PRIMARY KEY(stack_id, warp_id),
    FOREIGN KEY(stack_id) REFERENCES stackRun(stack_id),
    FOREIGN KEY(warp_id) REFERENCES warpSkyfile(warp_id)
) ENGINE=innodb DEFAULT CHARSET=latin1;

CREATE TABLE stackSumSkyfile (
    stack_id BIGINT,
    uri VARCHAR(255),
    path_base VARCHAR(255),
    bg DOUBLE,
    bg_stdev DOUBLE,
    dtime_stack FLOAT,
    dtime_script FLOAT,
    sources INT,
    hostname VARCHAR(64),
    good_frac FLOAT,
    mjd_obs DOUBLE,
    fault SMALLINT,
    software_ver VARCHAR(16),
    quality SMALLINT NOT NULL DEFAULT 0,
    PRIMARY KEY(stack_id),
    KEY(dtime_stack),
    KEY(good_frac),
    KEY(fault),
    KEY(quality),
    FOREIGN KEY(stack_id) REFERENCES stackRun(stack_id)
) ENGINE=innodb DEFAULT CHARSET=latin1;

-- ---------------------------------------------------------------- diff
CREATE TABLE diffRun (
    diff_id BIGINT AUTO_INCREMENT,
    state VARCHAR(64),
    workdir VARCHAR(255),
    label VARCHAR(64),
    data_group VARCHAR(64),
    dist_group VARCHAR(64),
    reduction VARCHAR(64),
    dvodb VARCHAR(255),
    registered DATETIME,
    tess_id VARCHAR(64),
    bothways TINYINT DEFAULT 0,
    exposure TINYINT DEFAULT 0,
    magicked BIGINT,
    software_ver VARCHAR(16),
    diff_mode SMALLINT NOT NULL,
    note VARCHAR(255),
    PRIMARY KEY(diff_id),
    KEY(diff_id),
    KEY(state),
    KEY(tess_id),
    KEY(label),
    KEY(data_group),
    KEY(dist_group)
) ENGINE=innodb DEFAULT CHARSET=latin1;

CREATE TABLE diffInputSkyfile (
    diff_id BIGINT,
    skycell_id VARCHAR(64),
    warp1 BIGINT,
    stack1 BIGINT,
    warp2 BIGINT,
    stack2 BIGINT,
    tess_id VARCHAR(64),
    diff_skyfile_id BIGINT AUTO_INCREMENT,
    PRIMARY KEY(diff_skyfile_id),
    KEY(diff_id, skycell_id),
    KEY(warp1),
    KEY(warp2),
    KEY(stack1),
    KEY(stack2),
    KEY(skycell_id),
    KEY(tess_id),
    FOREIGN KEY(diff_id) REFERENCES diffRun(diff_id),
    FOREIGN KEY(warp1, skycell_id, tess_id) REFERENCES warpSkyfile(warp_id, skycell_id, tess_id),
    FOREIGN KEY(warp2, skycell_id, tess_id) REFERENCES warpSkyfile(warp_id, skycell_id, tess_id),
    FOREIGN KEY(stack1) REFERENCES stackSumSkyfile(stack_id),
    FOREIGN KEY(stack2) REFERENCES stackSumSkyfile(stack_id)
) ENGINE=innodb DEFAULT CHARSET=latin1;

CREATE TABLE diffSkyfile (
    diff_id BIGINT,
    skycell_id VARCHAR(64),
    path_base VARCHAR(255),
    data_state VARCHAR(64),
    bg DOUBLE,
    bg_stdev DOUBLE,
    sources INT,
    dtime_diff FLOAT,
    dtime_script FLOAT,
    hostname VARCHAR(64),
    good_frac FLOAT,
    quality SMALLINT NOT NULL DEFAULT 0,
    fault SMALLINT,
    magicked BIGINT,
    software_ver VARCHAR(16),
    PRIMARY KEY(diff_id, skycell_id),
    KEY(good_frac),
    KEY(fault),
    KEY(quality),
    KEY(data_state),
    FOREIGN KEY(diff_id) REFERENCES diffRun(diff_id)
) ENGINE=innodb DEFAULT CHARSET=latin1;

-- ---------------------------------------------------------------- magic / destreak
CREATE TABLE magicRun (
    magic_id BIGINT AUTO_INCREMENT,
    exp_id BIGINT,
    diff_id BIGINT,
    inverse TINYINT NOT NULL DEFAULT 0,
    state VARCHAR(64),
    workdir VARCHAR(255),
    workdir_state VARCHAR(255),
    label VARCHAR(64),
    data_group VARCHAR(64),
    dvodb VARCHAR(255),
    registered DATETIME,
    fault SMALLINT,
    note VARCHAR(255),
    PRIMARY KEY(magic_id),
    KEY(magic_id),
    KEY(state),
    KEY(workdir_state),
    KEY(label),
    KEY(data_group),
    KEY(fault),
    FOREIGN KEY(exp_id) REFERENCES rawExp(exp_id),
    FOREIGN KEY(diff_id) REFERENCES diffRun(diff_id)
) ENGINE=innodb DEFAULT CHARSET=latin1;

CREATE TABLE magicDSRun (
    magic_ds_id BIGINT AUTO_INCREMENT,
    magic_id BIGINT,
    inv_magic_id BIGINT,
    state VARCHAR(64),
    stage VARCHAR(64),
    stage_id BIGINT,
    cam_id BIGINT,
    label VARCHAR(64),
    data_group VARCHAR(64),
    outroot VARCHAR(255),
    recoveryroot VARCHAR(255),
    re_place TINYINT,
    remove TINYINT,
    fault SMALLINT,
    note VARCHAR(255),
    PRIMARY KEY(magic_ds_id),
    KEY(magic_ds_id),
    KEY(state),
    KEY(magic_id),
    KEY(label),
    KEY(fault),
    KEY(stage),
    KEY(stage_id),
    FOREIGN KEY(magic_id) REFERENCES magicRun(magic_id),
    FOREIGN KEY(inv_magic_id) REFERENCES magicRun(magic_id)
) ENGINE=innodb DEFAULT CHARSET=latin1;

CREATE TABLE magicDSFile (
    magic_ds_id BIGINT,
    component VARCHAR(64),
    backup_path_base VARCHAR(255),
    recovery_path_base VARCHAR(255),
    streak_frac FLOAT,
    nondiff_frac FLOAT,
    run_time FLOAT,
    fault SMALLINT,
    data_state VARCHAR(64),
    PRIMARY KEY(magic_ds_id, component),
    KEY(fault),
    KEY(data_state),
    FOREIGN KEY(magic_ds_id) REFERENCES magicDSRun(magic_ds_id)
) ENGINE=innodb DEFAULT CHARSET=latin1;

-- ---------------------------------------------------------------- distribution
CREATE TABLE distTarget (
    target_id BIGINT AUTO_INCREMENT,
    dist_group VARCHAR(64),
    filter VARCHAR(64),
    stage VARCHAR(64),
    clean TINYINT,
    state VARCHAR(64),
    comment VARCHAR(255),
    PRIMARY KEY(target_id),
    KEY(stage),
    KEY(dist_group),
    KEY(filter),
    KEY(state),
    CONSTRAINT UNIQUE (dist_group, filter, stage, clean)
) ENGINE=innodb DEFAULT CHARSET=latin1;

CREATE TABLE distRun (
    dist_id BIGINT AUTO_INCREMENT,
    target_id BIGINT,
    stage VARCHAR(64),
    stage_id BIGINT,
    magic_ds_id BIGINT,
    label VARCHAR(64),
    outroot VARCHAR(255),
    outdir VARCHAR(255),
    clean TINYINT,
    no_magic TINYINT,
    alternate TINYINT,
    state VARCHAR(64),
    time_stamp TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    fault SMALLINT,
    data_group VARCHAR(64),
    note VARCHAR(255),
    PRIMARY KEY(dist_id),
    KEY(state),
    KEY(label),
    KEY(stage),
    KEY(stage_id),
    KEY(magic_ds_id),
    KEY(fault),
    KEY(data_group),
    FOREIGN KEY(target_id) REFERENCES distTarget(target_id)
) ENGINE=innodb DEFAULT CHARSET=latin1;

CREATE TABLE distComponent (
    dist_id BIGINT,
    component VARCHAR(64),
    bytes INT,
    md5sum VARCHAR(32),
    state VARCHAR(64),
    outdir VARCHAR(255),
    name VARCHAR(255),
    fault SMALLINT,
    PRIMARY KEY(dist_id, component),
    KEY(state),
    FOREIGN KEY(dist_id) REFERENCES distRun(dist_id)
) ENGINE=innodb DEFAULT CHARSET=latin1;

-- ---------------------------------------------------------------- chip masks, magic nodes, publishing
-- chipMask: a row holds back every 'new' chip run of its label (chiptool_pendingimfile.sql LEFT JOIN chipMask).
CREATE TABLE chipMask (
    label VARCHAR(64),
    PRIMARY KEY(label)
) ENGINE=innodb DEFAULT CHARSET=latin1;

-- magicNodeResult: per-node magic results; magictool -revertnode deletes faulted rows of 'new' runs.
CREATE TABLE magicNodeResult (
    magic_id BIGINT,
    node VARCHAR(64),
    path_base VARCHAR(255),
    fault SMALLINT,
    PRIMARY KEY(magic_id, node),
    FOREIGN KEY(magic_id) REFERENCES magicRun(magic_id),
    KEY(fault)
) ENGINE=innodb DEFAULT CHARSET=latin1;

-- publishing (columns the exporter and pubtool_revert.sql read; the other publishClient columns are left out)
CREATE TABLE publishClient (
    client_id BIGINT AUTO_INCREMENT,
    active TINYINT,
    comment VARCHAR(255),
    name VARCHAR(64) DEFAULT NULL,
    output_format SMALLINT NOT NULL DEFAULT 1,
    PRIMARY KEY(client_id),
    UNIQUE KEY name (name)
) ENGINE=innodb DEFAULT CHARSET=latin1;

CREATE TABLE publishRun (
    pub_id BIGINT AUTO_INCREMENT,
    client_id BIGINT NOT NULL,
    stage_id BIGINT NOT NULL,
    label VARCHAR(64),
    state VARCHAR(64),
    PRIMARY KEY(pub_id),
    KEY(client_id),
    KEY(stage_id),
    KEY(label),
    KEY(state),
    FOREIGN KEY(client_id) REFERENCES publishClient(client_id)
) ENGINE=innodb DEFAULT CHARSET=latin1;

CREATE TABLE publishDone (
    pub_id BIGINT AUTO_INCREMENT,
    path_base VARCHAR(255),
    hostname VARCHAR(64),
    dtime_script FLOAT,
    fault SMALLINT NOT NULL DEFAULT 0,
    PRIMARY KEY(pub_id),
    KEY(fault),
    FOREIGN KEY(pub_id) REFERENCES publishRun(pub_id)
) ENGINE=innodb DEFAULT CHARSET=latin1;
